// The form side of the object editor: the fields that matter for each kind (names, matching,
// references to other objects picked from the existing ones, upstream nodes). Everything
// else is edited in the raw JSON beside it; both edit the same object.
import { useEffect, useState } from 'preact/hooks';
import { Field } from '../drawer.js';
import { t, type MessageKey } from '../i18n/index.js';
import { ListInput, TextInput } from './inputs.js';
import { kindNamed, type FormField, type KindName } from './kinds.js';
import { loadItems, type Item, type Obj } from './model.js';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];
const BALANCERS = ['roundrobin', 'chash', 'ewma', 'least_conn'];
const PICKERS: Partial<Record<FormField, KindName>> = {
  upstream_id: 'upstreams', service_id: 'services', plugin_config_id: 'plugin_configs', group_id: 'consumer_groups',
};
/** Form fields stored under another key (the Vault address is the secret's `uri`). */
const BODY_KEY: Partial<Record<FormField, string>> = { uri_vault: 'uri' };

export const bodyKeyOf = (f: FormField): string => BODY_KEY[f] ?? f;

interface Props { body: Obj; onChange: (b: Obj) => void; readOnly: boolean; errors: Record<string, string>; isNew: boolean }

export function BodyFields({ fields, ...props }: Props & { fields: FormField[] }) {
  return <>{fields.map((f) => <BodyField key={f} field={f} {...props} />)}</>;
}

function BodyField({ field, body, onChange, readOnly: viewerOnly, errors, isNew }: Props & { field: FormField }) {
  // a consumer's username is its id: renaming would make another consumer
  const readOnly = viewerOnly || (field === 'username' && !isNew);
  const key = bodyKeyOf(field);
  const value = body[key];
  const set = (v: unknown): void => {
    const next = { ...body };
    if (v === undefined || v === '') delete next[key];
    else next[key] = v;
    onChange(next);
  };
  const id = `body-${field}`;
  const label = t(`res.field.${field}` as MessageKey);
  const common = { id, label, error: errors[key] };
  const str = typeof value === 'string' ? value : '';
  switch (field) {
    case 'uris': case 'hosts': case 'snis':
      return (
        <Field {...common} hint={t('res.onePerLine')}>
          <ListInput id={id} value={Array.isArray(value) ? value : undefined} onChange={set} readOnly={readOnly} />
        </Field>
      );
    case 'methods':
      return <MethodsField {...common} value={Array.isArray(value) ? value as string[] : []} onChange={set} readOnly={readOnly} />;
    case 'cert': case 'key':
      return (
        <Field {...common} {...(field === 'key' ? { hint: t('res.keyHint') } : {})}>
          <textarea id={id} class="code" rows={4} value={str} readOnly={readOnly} onInput={(e) => set(e.currentTarget.value)} />
        </Field>
      );
    case 'type':
      return (
        <Field {...common}>
          <select id={id} disabled={readOnly} value={str} onChange={(e) => set(e.currentTarget.value)}>
            {BALANCERS.map((b) => <option key={b} value={b}>{b}</option>)}
          </select>
        </Field>
      );
    case 'nodes':
      return <NodesTable {...common} value={value} onChange={set} readOnly={readOnly} />;
    case 'upstream_id': case 'service_id': case 'plugin_config_id': case 'group_id':
      return (
        <Field {...common}>
          <Picker id={id} kind={PICKERS[field]!} value={value === undefined ? '' : String(value)} onChange={set} readOnly={readOnly} />
        </Field>
      );
    default:
      return (
        <Field {...common}>
          <TextInput id={id} secret={field === 'token'} value={str} readOnly={readOnly} onChange={set} />
        </Field>
      );
  }
}

function MethodsField({ id, label, error, value, onChange, readOnly }:
  { id: string; label: string; error: string | undefined; value: string[]; onChange: (v: unknown) => void; readOnly: boolean }) {
  const toggle = (m: string, on: boolean): void => {
    const next = METHODS.filter((x) => (x === m ? on : value.includes(x)));
    onChange(next.length === 0 ? undefined : next);
  };
  return (
    <fieldset class={`field${error !== undefined ? ' has-error' : ''}`} data-field="methods" id={id}>
      <legend>{label}</legend>
      <div class="methods">
        {METHODS.map((m) => (
          <label key={m} class="inline">
            <input type="checkbox" checked={value.includes(m)} disabled={readOnly} onChange={(e) => toggle(m, e.currentTarget.checked)} /> {m}
          </label>
        ))}
      </div>
      <p class="hint">{t('res.methodsHint')}</p>
      {error !== undefined && <p class="field-error" role="alert">{error}</p>}
    </fieldset>
  );
}

/** A select of the existing objects of `kind`, plus "none". */
function Picker({ id, kind, value, onChange, readOnly }:
  { id: string; kind: KindName; value: string; onChange: (v: unknown) => void; readOnly: boolean }) {
  const [items, setItems] = useState<Item[]>();
  useEffect(() => {
    loadItems(kindNamed(kind)!).then(setItems, () => setItems([]));
  }, [kind]);
  const known = items?.some((i) => i.id === value) ?? true;
  return (
    <select id={id} disabled={readOnly} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
      <option value="">{t('common.none')}</option>
      {!known && <option value={value}>{value}</option>}
      {(items ?? []).map((i) => (
        <option key={i.id} value={i.id}>{typeof i.value.name === 'string' && i.value.name !== '' ? `${i.id} · ${i.value.name}` : i.id}</option>
      ))}
    </select>
  );
}

interface UpstreamNode { host: string; port: number; weight: number; [k: string]: unknown }

/** APISIX also accepts `{"host:port": weight}`; the table edits the list form. */
function nodeList(value: unknown): UpstreamNode[] {
  if (Array.isArray(value)) return value as UpstreamNode[];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, number>).map(([addr, weight]) => {
    const at = addr.lastIndexOf(':');
    return at < 0 ? { host: addr, port: 80, weight } : { host: addr.slice(0, at), port: Number(addr.slice(at + 1)), weight };
  });
}

function NodesTable({ id, label, error, value, onChange, readOnly }:
  { id: string; label: string; error: string | undefined; value: unknown; onChange: (v: unknown) => void; readOnly: boolean }) {
  const nodes = nodeList(value);
  const update = (i: number, patch: Partial<UpstreamNode>): void => onChange(nodes.map((n, j) => (j === i ? { ...n, ...patch } : n)));
  const num = (s: string): number => (s === '' ? 0 : Number(s));
  return (
    <fieldset class={`field${error !== undefined ? ' has-error' : ''}`} data-field="nodes" id={id}>
      <legend>{label}</legend>
      <table class="nodes">
        <thead><tr><th>{t('res.node.host')}</th><th>{t('res.node.port')}</th><th>{t('res.node.weight')}</th><th /></tr></thead>
        <tbody>
          {nodes.map((n, i) => (
            <tr key={i}>
              <td><input aria-label={t('res.node.hostOf', { n: i + 1 })} value={n.host} readOnly={readOnly} onInput={(e) => update(i, { host: e.currentTarget.value })} /></td>
              <td><input aria-label={t('res.node.portOf', { n: i + 1 })} type="number" value={String(n.port)} readOnly={readOnly} onInput={(e) => update(i, { port: num(e.currentTarget.value) })} /></td>
              <td><input aria-label={t('res.node.weightOf', { n: i + 1 })} type="number" value={String(n.weight)} readOnly={readOnly} onInput={(e) => update(i, { weight: num(e.currentTarget.value) })} /></td>
              <td>{!readOnly && <button type="button" onClick={() => onChange(nodes.filter((_, j) => j !== i))}>{t('res.node.remove')}</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!readOnly && <button type="button" onClick={() => onChange([...nodes, { host: '', port: 80, weight: 1 }])}>{t('res.node.add')}</button>}
      {error !== undefined && <p class="field-error" role="alert">{error}</p>}
    </fieldset>
  );
}
