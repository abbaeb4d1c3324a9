// The configuration section: a tab per resource kind, and for the chosen one the generic
// list (search, pagination, create, edit, delete after a confirmation). A consumer's
// credentials are the same list under `#/resources/consumers/<username>/credentials`.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { t } from '../i18n/index.js';
import { ResourceEditor } from './editor.js';
import { KINDS, kindNamed, type ResourceKind } from './kinds.js';
import { deleteItem, editable, loadItems, matchesSearch, pageOf, type Item, type Obj } from './model.js';

export function Resources({ canWrite, route }: { canWrite: boolean; route: string[] }) {
  const [kindName = 'routes', parent, sub] = route;
  const kind = sub === 'credentials' && kindName === 'consumers' ? kindNamed('credentials')! : kindNamed(kindName) ?? KINDS[0]!;
  const parentName = kind.name === 'credentials' ? parent : undefined;
  return (
    <section class="resources">
      <nav class="kind-tabs" aria-label={t('res.kinds')}>
        {KINDS.filter((k) => k.name !== 'credentials').map((k) => (
          <a key={k.name} href={`#/resources/${k.name}`} aria-current={k.name === kind.name || (k.name === 'consumers' && kind.name === 'credentials') ? 'page' : undefined}>
            {t(k.title)}
          </a>
        ))}
      </nav>
      <ResourceList key={`${kind.name}/${parentName ?? ''}`} kind={kind} parent={parentName} canWrite={canWrite} />
    </section>
  );
}

type Editing = { id?: string; value: Obj };

function ResourceList({ kind, parent, canWrite }: { kind: ResourceKind; parent: string | undefined; canWrite: boolean }) {
  const [items, setItems] = useState<Item[]>();
  const [error, setError] = useState<string>();
  const [search, setSearch] = useState('');
  const [page, setPage] = useState(1);
  const [editing, setEditing] = useState<Editing>();
  const [confirming, setConfirming] = useState<string>();
  const [flash, setFlash] = useState<string>();

  const reload = useCallback(async () => {
    try {
      setItems(await loadItems(kind, parent));
      setError(undefined);
    } catch (e) {
      setError(t('common.loadFailed', { reason: (e as Error).message }));
    }
  }, [kind, parent]);
  useEffect(() => { void reload(); }, [reload]);

  const remove = async (id: string): Promise<void> => {
    try {
      await deleteItem(kind, id, parent);
      setConfirming(undefined);
      setFlash(t('res.deleted', { id }));
      await reload();
    } catch (e) {
      setConfirming(undefined);
      setFlash(undefined);
      setError((e as Error).message);
    }
  };

  const matching = (items ?? []).filter((i) => matchesSearch(kind, i, search));
  const paged = pageOf(matching, page);
  const title = kind.name === 'credentials' ? t('res.credentialsOf', { name: parent ?? '' }) : t(kind.title);
  const close = (): void => setEditing(undefined);
  return (
    <div class="resource-list" data-kind={kind.name}>
      <div class="page-head">
        <h1>{title}</h1>
        {kind.name === 'credentials' && <a href="#/resources/consumers">{t('res.backToConsumers')}</a>}
        {canWrite && <button type="button" class="primary" onClick={() => setEditing({ value: kind.skeleton() })}>{t('res.create')}</button>}
      </div>
      {flash !== undefined && <p class="notice" role="status">{flash}</p>}
      {error !== undefined && <p class="error" role="alert">{error}</p>}
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label class="grow">
          <span>{t('market.filterText')}</span>
          <input type="search" value={search} placeholder={t('res.searchHint')}
            onInput={(e) => { setSearch(e.currentTarget.value); setPage(1); }} />
        </label>
        {items !== undefined && <span class="count">{t('res.count', { shown: matching.length, total: items.length })}</span>}
      </form>
      {items === undefined && error === undefined && <p class="muted">{t('common.loading')}</p>}
      {items !== undefined && matching.length === 0 && <p class="muted">{t('res.empty')}</p>}
      {paged.shown.length > 0 && (
        <table class="resource-table">
          <thead>
            <tr>
              <th>{kind.idRule === 'username' ? t('res.col.username') : kind.idIsPlugin === true ? t('res.field.plugin') : t('res.field.id')}</th>
              {kind.columns.filter((c) => c.label !== 'res.col.username').map((c) => <th key={c.label}>{t(c.label)}</th>)}
              <th><span class="visually-hidden">{t('res.actions')}</span></th>
            </tr>
          </thead>
          <tbody>
            {paged.shown.map((item) => (
              <tr key={item.id} data-id={item.id}>
                <td>
                  <button type="button" class="link" onClick={() => setEditing({ id: item.id, value: editable(item.value) })}>{item.id}</button>
                </td>
                {kind.columns.filter((c) => c.label !== 'res.col.username').map((c) => <td key={c.label}>{cell(c.value(item.value))}</td>)}
                <td class="row-actions">
                  {kind.name === 'consumers' && <a href={`#/resources/consumers/${encodeURIComponent(item.id)}/credentials`}>{t('res.credentials')}</a>}
                  {kind.name === 'routes' && <a href={`#/routes/${encodeURIComponent(item.id)}/chain`}>{t('chain.open')}</a>}
                  <button type="button" onClick={() => setEditing({ id: item.id, value: editable(item.value) })}>{canWrite ? t('detail.edit') : t('res.view')}</button>
                  {canWrite && <button type="button" class="danger" onClick={() => setConfirming(item.id)}>{t('detail.delete')}</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {confirming !== undefined && (
        <div class="confirm" role="alertdialog" aria-label={t('res.confirmDelete', { id: confirming })}>
          <p>{t('res.confirmDelete', { id: confirming })}</p>
          <button type="button" onClick={() => setConfirming(undefined)}>{t('common.cancel')}</button>
          <button type="button" class="danger" onClick={() => void remove(confirming)}>{t('res.confirmDeleteButton')}</button>
        </div>
      )}
      {paged.pages > 1 && (
        <nav class="pager" aria-label={t('res.pages')}>
          <button type="button" disabled={paged.page <= 1} onClick={() => setPage(paged.page - 1)}>{t('res.prev')}</button>
          <span>{t('res.pageOf', { page: paged.page, pages: paged.pages })}</span>
          <button type="button" disabled={paged.page >= paged.pages} onClick={() => setPage(paged.page + 1)}>{t('res.next')}</button>
        </nav>
      )}
      {editing !== undefined && (
        <ResourceEditor key={editing.id ?? '+'} kind={kind} parent={parent} {...(editing.id !== undefined ? { id: editing.id } : {})}
          initial={editing.value} canWrite={canWrite} onClose={close}
          onSaved={() => { setFlash(t('res.saved', { kind: t(kind.one) })); close(); void reload(); }} />
      )}
    </div>
  );
}

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

