// The editor of one object of any kind: the form fields its declaration names and, for
// kinds with plugins, the plugins section, beside the raw JSON of the whole object (both
// edit the same value). An Admin API 400 is shown next to the field it names, else on top.
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { Drawer, Field } from '../drawer.js';
import { t } from '../i18n/index.js';
import { BodyFields, bodyKeyOf } from './body-fields.js';
import { errorTarget } from './errors.js';
import { JsonText } from './inputs.js';
import type { ResourceKind } from './kinds.js';
import { installedPlugins, saveItem, type Obj, type PluginInfo } from './model.js';
import { PluginsSection, usePluginSchema, type PluginErrors } from './plugins-section.js';
import { SchemaForm } from './schema-form.js';

interface Errors { top?: string; fields: Record<string, string>; plugins: PluginErrors }
const NO_ERRORS: Errors = { fields: {}, plugins: {} };

export function ResourceEditor({ kind, parent, id: initialId, initial, canWrite, onClose, onSaved }:
  {
    kind: ResourceKind; parent?: string; id?: string; initial: Obj; canWrite: boolean;
    onClose: () => void; onSaved: () => void;
  }) {
  const isNew = initialId === undefined;
  const [id, setId] = useState(initialId ?? '');
  const [body, setBodyState] = useState<Obj>(initial);
  const [jsonProblem, setJsonProblem] = useState<string>();
  const [pluginJsonProblems, setPluginJsonProblems] = useState<Record<string, string>>({});
  const unparsed = jsonProblem !== undefined || Object.keys(pluginJsonProblems).length > 0;
  const notePluginJson = (plugin: string, problem: string | undefined): void => setPluginJsonProblems((all) => {
    const { [plugin]: _, ...rest } = all;
    return problem === undefined ? rest : { ...rest, [plugin]: problem };
  });
  const [errors, setErrors] = useState<Errors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  const readOnly = !canWrite;
  // an edit answers the API's complaint (or not: the next save says so), so it goes
  const setBody = (next: Obj): void => {
    setBodyState(next);
    setErrors(NO_ERRORS);
  };

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (unparsed) return;
    if (kind.idRule === 'required' && id.trim() === '') {
      setErrors({ ...NO_ERRORS, fields: { id: t('publish.required') } });
      return;
    }
    setBusy(true);
    try {
      await saveItem(kind, id.trim(), body, isNew, parent);
      onSaved();
    } catch (err) {
      setErrors(placeErrors(kind, body, err instanceof ApiError ? err.message : (err as Error).message));
    } finally {
      setBusy(false);
    }
  };

  const title = isNew ? t('res.createTitle', { kind: t(kind.one) }) : t('res.editTitle', { kind: t(kind.one), id: initialId });
  const plugins = (body.plugins ?? {}) as Obj;
  return (
    <Drawer title={title} onClose={onClose}>
      <form class="resource-form" onSubmit={submit} noValidate data-kind={kind.name}>
        {errors.top !== undefined && <p class="error top-error" role="alert">{errors.top}</p>}
        {readOnly && <p class="notice">{t('res.readOnly')}</p>}
        <div class="split">
          <div class="form-side">
            {kind.idRule !== 'username' && (
              <IdField kind={kind} id={id} setId={setId} isNew={isNew} readOnly={readOnly} error={errors.fields.id} />
            )}
            <BodyFields fields={kind.fields} body={body} onChange={setBody} readOnly={readOnly} errors={errors.fields} isNew={isNew} />
            {kind.bodyIsPluginConfig !== undefined && (
              <MetadataForm plugin={id} body={body} onChange={setBody} readOnly={readOnly} errors={errors.fields} />
            )}
          </div>
          <div class="json-side">
            <label for="body-json">{t('res.rawJson')}</label>
            <JsonText id="body-json" value={body} object readOnly={readOnly} rows={18} onValidity={setJsonProblem}
              onChange={(v) => setBody((v ?? {}) as Obj)} />
          </div>
        </div>
        {kind.plugins !== undefined && (
          <PluginsSection plugins={plugins} consumerSide={kind.plugins === 'consumer'} credentialsOnly={kind.name === 'credentials'}
            readOnly={readOnly} errors={errors.plugins} onJsonProblem={notePluginJson}
            onChange={(p) => setBody(Object.keys(p).length === 0 && kind.name !== 'credentials' ? withoutPlugins(body) : { ...body, plugins: p })} />
        )}
        <div class="actions">
          <button type="button" onClick={onClose}>{canWrite ? t('common.cancel') : t('common.close')}</button>
          {canWrite && <button type="submit" class="primary" disabled={busy || unparsed}>{t('common.save')}</button>}
        </div>
      </form>
    </Drawer>
  );
}

function withoutPlugins(body: Obj): Obj {
  const { plugins: _, ...rest } = body;
  return rest;
}

/** Puts the API's message next to the field (or plugin field) it names, when the form shows that field. */
export function placeErrors(kind: ResourceKind, body: Obj, message: string): Errors {
  const target = errorTarget(message);
  if (target.plugin !== undefined && kind.plugins !== undefined && target.plugin in ((body.plugins ?? {}) as Obj)) {
    return { fields: {}, plugins: { [target.plugin]: { [target.field ?? '']: message } } };
  }
  const field = target.field;
  if (field !== undefined) {
    const shown = field === 'id' || field === 'username' || kind.fields.some((f) => bodyKeyOf(f) === field)
      || (kind.bodyIsPluginConfig !== undefined && target.plugin === undefined);
    if (shown) return { fields: { [field]: message }, plugins: {} };
  }
  return { top: message, fields: {}, plugins: {} };
}

function IdField({ kind, id, setId, isNew, readOnly, error }:
  { kind: ResourceKind; id: string; setId: (s: string) => void; isNew: boolean; readOnly: boolean; error: string | undefined }) {
  const [plugins, setPlugins] = useState<PluginInfo[]>([]);
  useEffect(() => {
    if (kind.idIsPlugin === true && isNew) installedPlugins().then(setPlugins, () => setPlugins([]));
  }, [kind, isNew]);
  const hint = kind.idRule === 'generated' ? t('res.idGenerated') : kind.idPrefix !== undefined && isNew ? t('res.idPrefixed', { prefix: kind.idPrefix }) : undefined;
  const label = kind.idIsPlugin === true ? t('res.field.plugin') : `${t('res.field.id')}${kind.idRule === 'required' ? ' *' : ''}`;
  return (
    <Field id="body-id" label={label} hint={hint} error={error}>
      {kind.idIsPlugin === true && isNew ? (
        <select id="body-id" disabled={readOnly} value={id} onChange={(e) => setId(e.currentTarget.value)}>
          <option value="">{t('res.choosePlugin')}</option>
          {plugins.filter((p) => p.metadata).map((p) => <option key={p.name} value={p.name}>{p.name}</option>)}
        </select>
      ) : (
        <input id="body-id" value={id} readOnly={readOnly || !isNew} onInput={(e) => setId(e.currentTarget.value)} />
      )}
    </Field>
  );
}

/** Plugin metadata: the body is the plugin's metadata, its form from `?schema_type=metadata`. */
function MetadataForm({ plugin, body, onChange, readOnly, errors }:
  { plugin: string; body: Obj; onChange: (b: Obj) => void; readOnly: boolean; errors: Record<string, string> }) {
  const schema = usePluginSchema(plugin, 'metadata');
  if (plugin === '') return null;
  return (
    <fieldset class="field nested">
      <legend>{t('res.metadataOf', { name: plugin })}</legend>
      {schema.error !== undefined && <p class="error" role="alert">{schema.error}</p>}
      {schema.value !== undefined && (
        <SchemaForm schema={schema.value} value={body} onChange={onChange} idPrefix="metadata" readOnly={readOnly} errors={errors} />
      )}
    </fieldset>
  );
}
