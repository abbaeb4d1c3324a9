// A plugin's drawer. Built-ins are read-only (their schema shown). A custom plugin can be
// enabled and disabled, switched to any of its versions, and, only while disabled,
// edited, given a new binary or deleted: the API refuses those with 409 while it serves.
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { Drawer, Field } from '../drawer.js';
import { t } from '../i18n/index.js';
import { bindingsOf, STAGES, type BuiltinPlugin, type CustomPlugin } from './model.js';
import { PublishDrawer } from './publish-drawer.js';

export function BuiltinDetail({ plugin, onClose }: { plugin: BuiltinPlugin; onClose: () => void }) {
  const bindings = bindingsOf(plugin);
  return (
    <Drawer title={plugin.name} onClose={onClose}>
      <p class="notice">{t('detail.builtinReadOnly')}</p>
      <dl class="facts wide">
        <div><dt>{t('card.stage')}</dt><dd>{t(`stage.${plugin.stage}`)}</dd></div>
        <div><dt>{t('card.priority')}</dt><dd>{plugin.priority}</dd></div>
        <div><dt>{t('card.version')}</dt><dd>{String(plugin.version)}</dd></div>
        {plugin.type !== undefined && <div><dt>{t('detail.type')}</dt><dd>{plugin.type}</dd></div>}
        <div><dt>{t('card.boundTo')}</dt>
          <dd>{bindings.length === 0 ? t('card.boundNowhere') : bindings.map(([k, id]) => t(`bound.${k}`, { id })).join(', ')}</dd>
        </div>
      </dl>
      <h3>{t('detail.schema')}</h3>
      <pre class="schema">{JSON.stringify(plugin.schema, null, 2)}</pre>
    </Drawer>
  );
}

const EDIT_FIELDS = ['name', 'description', 'language', 'stage', 'priority', 'gateway_version'] as const;
type EditField = typeof EDIT_FIELDS[number];

interface DetailProps {
  plugin: CustomPlugin;
  canWrite: boolean;
  onClose: () => void;
  onChanged: () => Promise<void>;
  onDeleted: (id: string) => void;
}

export function CustomDetail({ plugin, canWrite, onClose, onChanged, onDeleted }: DetailProps) {
  const [mode, setMode] = useState<'view' | 'edit' | 'upload' | 'confirm-delete'>('view');
  const [error, setError] = useState<ApiError>();
  const [message, setMessage] = useState<string>();
  const [busy, setBusy] = useState(false);
  const path = `/custom_plugins/${encodeURIComponent(plugin.id)}`;
  const locked = plugin.enabled;

  const run = async (action: () => Promise<unknown>, done?: string): Promise<boolean> => {
    setBusy(true);
    setError(undefined);
    setMessage(undefined);
    try {
      await action();
      if (done !== undefined) setMessage(done);
      await onChanged();
      return true;
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, (e as Error).message));
      // a refusal (409: enabled meanwhile) means the page is behind: show what is stored now
      await onChanged().catch(() => undefined);
      return false;
    } finally {
      setBusy(false);
    }
  };

  if (mode === 'upload') {
    return (
      <PublishDrawer existing={plugin} onClose={() => setMode('view')} onPublished={(_id, version) => {
        setMode('view');
        setMessage(t('publish.done', { id: plugin.id, version }));
        void onChanged();
      }} />
    );
  }

  const bindings = bindingsOf(plugin);
  return (
    <Drawer title={plugin.name} onClose={onClose}>
      <div class="detail-state">
        <span class={`badge ${plugin.enabled ? 'on' : 'off'}`}>{t(plugin.enabled ? 'state.enabled' : 'state.disabled')}</span>
        {canWrite && (
          <button type="button" class="primary" disabled={busy}
            onClick={() => void run(() => api('PATCH', path, { enabled: !plugin.enabled }))}>
            {t(plugin.enabled ? 'detail.disable' : 'detail.enable')}
          </button>
        )}
      </div>
      {canWrite && (
        <div class="detail-actions">
          <button type="button" disabled={locked || busy} onClick={() => setMode('edit')}>{t('detail.edit')}</button>
          <button type="button" disabled={locked || busy} onClick={() => setMode('upload')}>{t('detail.reupload')}</button>
          <button type="button" class="danger" disabled={locked || busy} onClick={() => setMode('confirm-delete')}>{t('detail.delete')}</button>
          {locked && <p class="reason" role="note">{t('detail.disableFirst')}</p>}
        </div>
      )}
      {mode === 'confirm-delete' && (
        <div class="confirm" role="alertdialog" aria-label={t('detail.delete')}>
          <p>{t('detail.confirmDelete', { id: plugin.id })}</p>
          <button type="button" onClick={() => setMode('view')}>{t('common.cancel')}</button>
          <button type="button" class="danger" disabled={busy}
            onClick={() => void run(() => api('DELETE', path)).then((ok) => { if (ok) onDeleted(plugin.id); else setMode('view'); })}>
            {t('detail.delete')}
          </button>
        </div>
      )}
      {message !== undefined && <p class="notice" role="status">{message}</p>}
      {error !== undefined && mode !== 'edit' && <p class="error" role="alert">{error.message}</p>}
      {mode === 'edit'
        ? <EditForm plugin={plugin} error={error} busy={busy} onCancel={() => { setError(undefined); setMode('view'); }}
            onSave={(changes) => void run(() => api('PATCH', path, changes), t('detail.saved')).then((ok) => { if (ok) setMode('view'); })} />
        : (
          <dl class="facts wide">
            <div><dt>{t('detail.id')}</dt><dd><code>{plugin.id}</code></dd></div>
            {plugin.description !== undefined && <div><dt>{t('detail.description')}</dt><dd>{plugin.description}</dd></div>}
            <div><dt>{t('card.stage')}</dt><dd>{t(`stage.${plugin.stage}`)}</dd></div>
            <div><dt>{t('card.priority')}</dt><dd>{plugin.priority}</dd></div>
            <div><dt>{t('detail.language')}</dt><dd>{plugin.language ?? t('common.none')}</dd></div>
            <div><dt>{t('detail.gatewayVersion')}</dt><dd>{plugin.gateway_version === 'any' ? t('publish.gatewayAny') : plugin.gateway_version}</dd></div>
            <div><dt>{t('card.boundTo')}</dt>
              <dd>{bindings.length === 0 ? t('card.boundNowhere') : bindings.map(([k, id]) => t(`bound.${k}`, { id })).join(', ')}</dd>
            </div>
          </dl>
        )}
      <h3>{t('detail.versions')}</h3>
      <table class="versions">
        <thead>
          <tr><th>{t('detail.versionCol')}</th><th>{t('detail.noteCol')}</th><th>{t('detail.sizeCol')}</th><th>{t('detail.createdCol')}</th><th>sha256</th><th /></tr>
        </thead>
        <tbody>
          {[...plugin.versions].reverse().map((v) => (
            <tr key={v.version} data-version={v.version} class={v.version === plugin.version ? 'current' : undefined}>
              <td>{v.version}</td>
              <td>{v.version_description ?? ''}</td>
              <td>{formatSize(v.size)}</td>
              <td>{new Date(v.created_at * 1000).toLocaleString()}</td>
              <td><code title={v.sha256}>{v.sha256.slice(0, 12)}</code></td>
              <td>
                {v.version === plugin.version
                  ? <span class="badge on">{t('detail.current')}</span>
                  : canWrite && (
                    <button type="button" disabled={busy}
                      onClick={() => void run(() => api('PATCH', path, { version: v.version }), t('detail.switched', { version: v.version }))}>
                      {t('detail.rollback')}
                    </button>
                  )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Drawer>
  );
}

function EditForm({ plugin, error, busy, onCancel, onSave }:
  { plugin: CustomPlugin; error: ApiError | undefined; busy: boolean; onCancel: () => void; onSave: (changes: Record<string, unknown>) => void }) {
  const [values, setValues] = useState<Record<EditField, string>>({
    name: plugin.name, description: plugin.description ?? '', language: plugin.language ?? '', stage: plugin.stage,
    priority: String(plugin.priority), gateway_version: plugin.gateway_version,
  });
  const set = (k: EditField) => (e: Event): void => setValues({ ...values, [k]: (e.currentTarget as HTMLInputElement).value });
  const fieldError = (k: EditField): string | undefined => (error?.field === k ? error.message : undefined);
  const formError = error !== undefined && !(EDIT_FIELDS as readonly string[]).includes(error.field ?? '') ? error.message : undefined;

  const submit = (e: Event): void => {
    e.preventDefault();
    const changes: Record<string, unknown> = {};
    for (const k of EDIT_FIELDS) {
      const v = values[k].trim();
      if (k === 'priority') changes.priority = Number(v);
      else if (v !== '' || k === 'description') changes[k] = v;
    }
    if (changes.description === '') delete changes.description;
    onSave(changes);
  };

  const text = (k: EditField, label: string) => (
    <Field id={`edit-${k}`} label={label} error={fieldError(k)}>
      <input id={`edit-${k}`} name={k} value={values[k]} onInput={set(k)} />
    </Field>
  );
  return (
    <form class="edit-form" onSubmit={submit}>
      {text('name', t('publish.name'))}
      {text('description', t('detail.description'))}
      {text('language', t('publish.language'))}
      <Field id="edit-stage" label={t('publish.stage')} error={fieldError('stage')}>
        <select id="edit-stage" name="stage" value={values.stage} onChange={set('stage')}>
          {STAGES.map((s) => <option key={s} value={s}>{t(`stage.${s}`)}</option>)}
        </select>
      </Field>
      <Field id="edit-priority" label={t('publish.priority')} error={fieldError('priority')}>
        <input id="edit-priority" name="priority" type="number" step={1} value={values.priority} onInput={set('priority')} />
      </Field>
      {text('gateway_version', t('publish.gatewayVersion'))}
      {formError !== undefined && <p class="error" role="alert">{formError}</p>}
      <div class="actions">
        <button type="button" onClick={onCancel}>{t('common.cancel')}</button>
        <button type="submit" class="primary" disabled={busy}>{t('common.save')}</button>
      </div>
    </form>
  );
}

function formatSize(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
