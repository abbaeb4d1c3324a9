// The `plugins` map of a route, service, consumer, consumer group, plugin config or global
// rule: one block per plugin with the form generated from its schema beside its raw JSON,
// and a picker of the installed plugins (built-in and custom) to add one.
import { useEffect, useState } from 'preact/hooks';
import { t } from '../i18n/index.js';
import { JsonText } from './inputs.js';
import { installedPlugins, pluginSchema, type Obj, type PluginInfo } from './model.js';
import { SchemaForm } from './schema-form.js';

/** API errors for plugins: by plugin name, then by field path ('' = the plugin as a whole). */
export type PluginErrors = Record<string, Record<string, string>>;

export function PluginsSection({ plugins, onChange, consumerSide, credentialsOnly, readOnly, errors, onJsonProblem }:
  {
    plugins: Obj; onChange: (p: Obj) => void; consumerSide: boolean; credentialsOnly: boolean;
    readOnly: boolean; errors: PluginErrors;
    /** A plugin's raw JSON does not parse (`problem`) or parses again (undefined): the save waits for it. */
    onJsonProblem: (plugin: string, problem: string | undefined) => void;
  }) {
  const [installed, setInstalled] = useState<PluginInfo[]>([]);
  const [loadError, setLoadError] = useState<string>();
  const [adding, setAdding] = useState('');
  useEffect(() => {
    installedPlugins().then(setInstalled, (e: Error) => setLoadError(t('common.loadFailed', { reason: e.message })));
  }, []);

  const choices = installed.filter((p) => !(p.name in plugins) && (!credentialsOnly || p.consumer));
  const set = (name: string) => (conf: unknown): void => {
    const next = { ...plugins };
    if (conf === undefined) {
      delete next[name];
      onJsonProblem(name, undefined);
    }
    else next[name] = conf;
    onChange(next);
  };
  return (
    <section class="plugins-section">
      <h3>{t('res.plugins')}</h3>
      {loadError !== undefined && <p class="error" role="alert">{loadError}</p>}
      {Object.keys(plugins).length === 0 && <p class="muted">{t('res.noPlugins')}</p>}
      {Object.entries(plugins).map(([name, conf]) => {
        const info = installed.find((p) => p.name === name);
        const schemaType = consumerSide && info?.consumer === true ? 'consumer' : 'default';
        return (
          <PluginBlock key={name} name={name} schemaType={schemaType} conf={(conf ?? {}) as Obj} onChange={set(name)}
            readOnly={readOnly} errors={errors[name] ?? {}} onJsonProblem={(p) => onJsonProblem(name, p)} />
        );
      })}
      {!readOnly && (
        <div class="add-plugin">
          <select aria-label={t('res.pluginToAdd')} value={adding} onChange={(e) => setAdding(e.currentTarget.value)}>
            <option value="">{t('res.choosePlugin')}</option>
            {choices.map((p) => <option key={p.name} value={p.name}>{p.name}</option>)}
          </select>
          <button type="button" disabled={adding === ''} onClick={() => { set(adding)({}); setAdding(''); }}>{t('res.addPlugin')}</button>
        </div>
      )}
    </section>
  );
}

function PluginBlock({ name, schemaType, conf, onChange, readOnly, errors, onJsonProblem }:
  {
    name: string; schemaType: 'default' | 'consumer'; conf: Obj; onChange: (c: unknown) => void; readOnly: boolean;
    errors: Record<string, string>; onJsonProblem: (problem: string | undefined) => void;
  }) {
  const schema = usePluginSchema(name, schemaType);
  const whole = errors[''];
  return (
    <div class="plugin-block" data-plugin-config={name}>
      <div class="plugin-head">
        <span class="plugin-name">{name}</span>
        {schemaType === 'consumer' && <span class="badge">{t('res.consumerSchema')}</span>}
        {!readOnly && <button type="button" class="danger" onClick={() => onChange(undefined)}>{t('res.removePlugin', { name })}</button>}
      </div>
      {whole !== undefined && <p class="error" role="alert">{whole}</p>}
      <div class="split">
        <div class="form-side">
          {schema.error !== undefined && <p class="error" role="alert">{schema.error}</p>}
          {schema.value !== undefined && (
            <SchemaForm schema={schema.value} value={conf} onChange={onChange} idPrefix={`plugin-${name}`} readOnly={readOnly} errors={errors} />
          )}
        </div>
        <div class="json-side">
          <label for={`plugin-${name}-json`}>{t('res.pluginJson', { name })}</label>
          <JsonText id={`plugin-${name}-json`} value={conf} object readOnly={readOnly} rows={10}
            onValidity={onJsonProblem} onChange={(v) => onChange(v ?? {})} />
        </div>
      </div>
    </div>
  );
}

/** The plugin's schema (of `schemaType`), or why it could not be read. */
export function usePluginSchema(name: string, schemaType: 'default' | 'consumer' | 'metadata'): { value?: Obj; error?: string } {
  const [state, setState] = useState<{ value?: Obj; error?: string }>({});
  useEffect(() => {
    if (name === '') return;
    let live = true;
    setState({});
    pluginSchema(name, schemaType).then(
      (value) => { if (live) setState({ value }); },
      (e: Error) => { if (live) setState({ error: t('res.schemaFailed', { name, reason: e.message }) }); },
    );
    return () => { live = false; };
  }, [name, schemaType]);
  return state;
}
