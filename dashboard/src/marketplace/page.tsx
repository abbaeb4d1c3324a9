// The plugin marketplace: a card for every plugin, filtered (never paginated), the
// publish drawer, and the drawer of the plugin the hash names.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { t } from '../i18n/index.js';
import { navigate } from '../route.js';
import { PluginCard } from './card.js';
import { BuiltinDetail, CustomDetail } from './detail.js';
import { idOf, loadMarketplace, matchesFilters, STAGES, type Filters, type MarketPlugin } from './model.js';
import { PublishDrawer } from './publish-drawer.js';

export function Marketplace({ canWrite, route }: { canWrite: boolean; route: string[] }) {
  const [plugins, setPlugins] = useState<MarketPlugin[]>();
  const [error, setError] = useState<string>();
  const [filters, setFilters] = useState<Filters>({ stage: '', kind: '', text: '' });
  const [publishing, setPublishing] = useState(false);
  const [flash, setFlash] = useState<string>();

  const reload = useCallback(async () => {
    try {
      setPlugins(await loadMarketplace());
      setError(undefined);
    } catch (e) {
      setError(t('common.loadFailed', { reason: (e as Error).message }));
    }
  }, []);
  useEffect(() => { void reload(); }, [reload]);

  const [openKind, openId] = route;
  const open = plugins?.find((p) => p.kind === openKind && idOf(p) === openId);
  const close = useCallback(() => navigate('plugins'), []);
  const shown = plugins?.filter((p) => matchesFilters(p, filters)) ?? [];
  const set = (patch: Partial<Filters>): void => setFilters({ ...filters, ...patch });

  return (
    <section class="marketplace">
      <div class="page-head">
        <h1>{t('market.title')}</h1>
        {canWrite && <button type="button" class="primary" onClick={() => setPublishing(true)}>{t('market.publish')}</button>}
      </div>
      {flash !== undefined && <p class="notice" role="status">{flash}</p>}
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          <span>{t('market.filterStage')}</span>
          <select name="stage" value={filters.stage} onChange={(e) => set({ stage: e.currentTarget.value as Filters['stage'] })}>
            <option value="">{t('common.all')}</option>
            {STAGES.map((s) => <option key={s} value={s}>{t(`stage.${s}`)}</option>)}
          </select>
        </label>
        <label>
          <span>{t('market.filterKind')}</span>
          <select name="kind" value={filters.kind} onChange={(e) => set({ kind: e.currentTarget.value as Filters['kind'] })}>
            <option value="">{t('common.all')}</option>
            <option value="builtin">{t('kind.builtin')}</option>
            <option value="custom">{t('kind.custom')}</option>
          </select>
        </label>
        <label class="grow">
          <span>{t('market.filterText')}</span>
          <input name="text" type="search" placeholder={t('market.filterTextHint')} value={filters.text}
            onInput={(e) => set({ text: e.currentTarget.value })} />
        </label>
        {plugins !== undefined && <span class="count">{t('market.count', { shown: shown.length, total: plugins.length })}</span>}
      </form>
      {error !== undefined && <p class="error" role="alert">{error}</p>}
      {plugins === undefined && error === undefined && <p class="muted">{t('common.loading')}</p>}
      {plugins !== undefined && shown.length === 0 && <p class="muted">{t('market.empty')}</p>}
      <div class="cards">
        {shown.map((p) => <PluginCard key={`${p.kind}/${idOf(p)}`} plugin={p} onOpen={() => navigate('plugins', p.kind, idOf(p))} />)}
      </div>
      {publishing && (
        <PublishDrawer onClose={() => setPublishing(false)} onPublished={(id, version) => {
          setPublishing(false);
          setFlash(t('publish.done', { id, version }));
          void reload();
        }} />
      )}
      {open?.kind === 'builtin' && <BuiltinDetail plugin={open} onClose={close} />}
      {open?.kind === 'custom' && (
        <CustomDetail key={open.id} plugin={open} canWrite={canWrite} onClose={close} onChanged={reload}
          onDeleted={(id) => { setFlash(t('detail.deleted', { id })); close(); void reload(); }} />
      )}
    </section>
  );
}
