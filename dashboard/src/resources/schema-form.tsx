// A form generated from a plugin's JSON Schema: strings, numbers, booleans, enums (select),
// lists of scalars, nested objects (fieldset); a oneOf/anyOf shows its first branch when that
// is one of these, otherwise the field is edited as raw JSON. Keys the form does not know
// are kept as they are (or flagged when additionalProperties is false).
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Field } from '../drawer.js';
import { t } from '../i18n/index.js';
import { JsonText, ListInput, TextInput } from './inputs.js';
import type { Obj } from './model.js';

interface Ctx {
  idPrefix: string;
  readOnly: boolean;
  /** API errors by dotted field path. */
  errors: Record<string, string>;
}

const SCALARS = ['string', 'integer', 'number', 'boolean'];
/** Gateway-wide instance settings every plugin schema carries: edited in the raw JSON. */
const HIDDEN = new Set(['_meta']);

/** A oneOf/anyOf without its own type shows as its first branch, keeping the outer description and default. */
function resolved(schema: Obj): Obj {
  const branches = (schema.oneOf ?? schema.anyOf) as Obj[] | undefined;
  if (schema.type !== undefined || !Array.isArray(branches) || branches.length === 0) return schema;
  const first = branches[0]!;
  return { ...first, description: schema.description ?? first.description, default: schema.default ?? first.default };
}

function typeOf(schema: Obj): string | undefined {
  return Array.isArray(schema.type) ? String(schema.type[0]) : schema.type as string | undefined;
}

type Control = 'enum' | 'string' | 'integer' | 'number' | 'boolean' | 'list' | 'object' | 'raw';
export function controlFor(schema: Obj): Control {
  const type = typeOf(schema);
  if (Array.isArray(schema.enum)) return 'enum';
  if (type !== undefined && SCALARS.includes(type)) return type as Control;
  if (type === 'array') {
    const itemType = typeOf(resolved((schema.items ?? {}) as Obj));
    return itemType !== undefined && ['string', 'integer', 'number'].includes(itemType) && !Array.isArray((schema.items as Obj).enum) ? 'list' : 'raw';
  }
  if (type === 'object' && schema.properties !== undefined) return 'object';
  return 'raw';
}

function hintOf(schema: Obj): string | undefined {
  const parts: string[] = [];
  if (typeof schema.description === 'string') parts.push(schema.description);
  if (schema.default !== undefined) parts.push(t('schema.default', { value: JSON.stringify(schema.default) }));
  const min = schema.minimum ?? schema.exclusiveMinimum;
  if (min !== undefined) parts.push(t(schema.minimum !== undefined ? 'schema.min' : 'schema.above', { value: String(min) }));
  const max = schema.maximum ?? schema.exclusiveMaximum;
  if (max !== undefined) parts.push(t(schema.maximum !== undefined ? 'schema.max' : 'schema.below', { value: String(max) }));
  return parts.length === 0 ? undefined : parts.join(' · ');
}

export function SchemaForm({ schema, value, onChange, idPrefix, readOnly, errors }:
  { schema: Obj; value: Obj; onChange: (v: Obj) => void } & Ctx) {
  return <ObjectFields schema={schema} value={value} onChange={onChange} path={[]} ctx={{ idPrefix, readOnly, errors }} />;
}

function ObjectFields({ schema, value, onChange, path, ctx }:
  { schema: Obj; value: Obj; onChange: (v: Obj) => void; path: string[]; ctx: Ctx }) {
  const properties = (schema.properties ?? {}) as Record<string, Obj>;
  const required = new Set((schema.required ?? []) as string[]);
  const names = Object.keys(properties).filter((n) => !HIDDEN.has(n));
  // Optional fields (often many: a limit plugin's Redis settings) fold away; they stay where
  // they are as they get values, so typing never moves the field under the cursor.
  const optional = names.filter((n) => !required.has(n));
  const extras = Object.keys(value).filter((k) => !(k in properties));
  const set = (name: string) => (v: unknown): void => {
    const next = { ...value };
    if (v === undefined) delete next[name];
    else next[name] = v;
    onChange(next);
  };
  const fieldsOf = (list: string[]) => list.map((name) => (
    <SchemaField key={name} name={name} schema={resolved(properties[name]!)} required={required.has(name)}
      value={value[name]} onChange={set(name)} path={[...path, name]} ctx={ctx} />
  ));
  return (
    <>
      {schema.additionalProperties === false && extras.length > 0 && (
        <p class="field-error" role="alert">{t('schema.notAllowed', { names: extras.join(', ') })}</p>
      )}
      {fieldsOf(names.filter((n) => required.has(n)))}
      {optional.length > 0 && (
        <Fold summary={t('schema.optional', { n: optional.length })}
          initiallyOpen={required.size === 0 || optional.some((n) => value[n] !== undefined)}
          forceOpen={Object.keys(ctx.errors).some((k) => optional.some((n) => k === [...path, n].join('.') || k.startsWith(`${[...path, n].join('.')}.`)))}>
          {fieldsOf(optional)}
        </Fold>
      )}
    </>
  );
}

/** A <details> the user opens and closes; it opens by itself to show a field the API complained about. */
function Fold({ summary, initiallyOpen, forceOpen, children }: { summary: string; initiallyOpen: boolean; forceOpen: boolean; children: ComponentChildren }) {
  const [open, setOpen] = useState(initiallyOpen);
  useEffect(() => { if (forceOpen) setOpen(true); }, [forceOpen]);
  return (
    <details class="optional-fields" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>{summary}</summary>
      {children}
    </details>
  );
}

function SchemaField({ name, schema, required, value, onChange, path, ctx }:
  { name: string; schema: Obj; required: boolean; value: unknown; onChange: (v: unknown) => void; path: string[]; ctx: Ctx }) {
  const dotted = path.join('.');
  const id = `${ctx.idPrefix}-${path.join('-')}`;
  const error = ctx.errors[dotted];
  const label = required ? `${name} *` : name;
  const control = controlFor(schema);
  if (control === 'object') {
    return (
      <fieldset class={`field nested${error !== undefined ? ' has-error' : ''}`} data-field={dotted}>
        <legend>{label}</legend>
        {typeof schema.description === 'string' && <p class="hint">{schema.description}</p>}
        {error !== undefined && <p class="field-error" role="alert">{error}</p>}
        <ObjectFields schema={schema} value={(value ?? {}) as Obj}
          onChange={(v) => onChange(Object.keys(v).length === 0 ? undefined : v)} path={path} ctx={ctx} />
      </fieldset>
    );
  }
  return (
    <Field id={id} label={label} hint={hintOf(schema)} error={error}>
      <Control control={control} id={id} schema={schema} value={value} onChange={onChange} ctx={ctx} />
    </Field>
  );
}

function Control({ control, id, schema, value, onChange, ctx }:
  { control: Control; id: string; schema: Obj; value: unknown; onChange: (v: unknown) => void; ctx: Ctx }) {
  const unset = schema.default !== undefined ? t('schema.unsetDefault', { value: JSON.stringify(schema.default) }) : t('schema.unset');
  switch (control) {
    case 'enum': {
      const options = schema.enum as unknown[];
      const index = options.findIndex((o) => o === value);
      return (
        <select id={id} disabled={ctx.readOnly} value={index < 0 ? '' : String(index)}
          onChange={(e) => onChange(e.currentTarget.value === '' ? undefined : options[Number(e.currentTarget.value)])}>
          <option value="">{unset}</option>
          {options.map((o, i) => <option key={i} value={String(i)}>{String(o)}</option>)}
        </select>
      );
    }
    case 'boolean':
      return (
        <select id={id} disabled={ctx.readOnly} value={value === undefined ? '' : String(value)}
          onChange={(e) => onChange(e.currentTarget.value === '' ? undefined : e.currentTarget.value === 'true')}>
          <option value="">{unset}</option>
          <option value="true">true</option>
          <option value="false">false</option>
        </select>
      );
    case 'integer':
    case 'number':
      return (
        <input id={id} type="number" step={control === 'integer' ? 1 : 'any'} readOnly={ctx.readOnly}
          value={typeof value === 'number' || typeof value === 'string' ? String(value) : ''}
          min={schema.minimum as number | undefined} max={schema.maximum as number | undefined}
          placeholder={schema.default !== undefined ? String(schema.default) : undefined}
          onInput={(e) => {
            const raw = e.currentTarget.value;
            onChange(raw === '' ? undefined : Number(raw));
          }} />
      );
    case 'string':
      return (
        <TextInput id={id} secret={schema.encrypted === true} readOnly={ctx.readOnly} onChange={onChange}
          value={typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value)}
          placeholder={typeof schema.default === 'string' ? schema.default : undefined} />
      );
    case 'list': {
      const itemType = typeOf(resolved(schema.items as Obj));
      return <ListInput id={id} value={Array.isArray(value) ? value : undefined} onChange={onChange} readOnly={ctx.readOnly}
        numeric={itemType !== 'string'} />;
    }
    default:
      return <JsonText id={id} value={value} onChange={onChange} readOnly={ctx.readOnly} rows={3} />;
  }
}
