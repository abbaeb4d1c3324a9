// The one JSON-schema compiler of the process, and the translation of its errors into
// the messages APISIX users (and their scripts) already know from the `jsonschema`
// rock: `property "uri" validation failed: wrong type: expected string, got number`.
//
// Two differences from a plain ajv setup, both for APISIX fidelity:
//  * ajv checks `enum`/`anyOf`/`oneOf`/`not`/`if` before `type` and `properties`;
//    the Lua validator checks `type` and the properties first. `compileSchema` rewrites
//    every subschema that mixes both into `allOf: [early, late]` so the first error
//    reported is the one APISIX reports (a wrong field type beats "matches none").
//  * nested fields are named by dotted path (`property "upstream.nodes" ...`) rather
//    than the rock's chain of `property "upstream" validation failed: property ...`.
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv and ajv-formats are CommonJS with a `default` property; under NodeNext the default
// import is the module object, so unwrap it once here.
type AjvCtor = typeof AjvModule.default;
const Ajv: AjvCtor = ((AjvModule as unknown as { default?: AjvCtor }).default ?? AjvModule) as AjvCtor;
type AddFormats = typeof addFormatsModule.default;
const addFormats: AddFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default
  ?? addFormatsModule) as AddFormats;

export type { ErrorObject };
export type JsonSchema = Record<string, unknown> | boolean;

/** The shared ajv instance (exported so other modules can add keywords or formats). */
export const ajv = new Ajv({
  strict: false, // APISIX schemas carry keywords ajv's strict mode dislikes (items-level uniqueItems, untyped enum)
  useDefaults: true,
  allErrors: false,
  verbose: true, // error objects carry `data` and `schema`, which the messages need
  allowUnionTypes: true,
});
addFormats(ajv);

export type SchemaValidator<T = unknown> = ValidateFunction<T>;

const compiled = new WeakMap<object, ValidateFunction>();

/**
 * Compiles a schema (cached per schema object). The validator mutates its input to fill
 * `default`s, so validate a copy when the caller's object must stay untouched.
 */
export function compileSchema<T = unknown>(schema: JsonSchema): SchemaValidator<T> {
  if (typeof schema === 'boolean') return ajv.compile<T>(schema);
  let v = compiled.get(schema);
  if (v === undefined) {
    v = ajv.compile(stageSchema(schema) as Record<string, unknown>);
    compiled.set(schema, v);
  }
  return v as SchemaValidator<T>;
}

/** Validates `data` (filling defaults in place); returns the APISIX-style message, or undefined when valid. */
export function checkSchema(validator: ValidateFunction, data: unknown): string | undefined {
  if (validator(data)) return undefined;
  return formatSchemaError(validator.errors, data, validator.schema);
}

// The order in which the Lua validator evaluates keywords after type/properties/items/
// string/number checks; each group becomes one step of a sequential `allOf`.
const LATE_GROUPS: readonly (readonly string[])[] = [
  ['enum', 'const'], ['allOf'], ['anyOf'], ['oneOf'], ['if', 'then', 'else'], ['not'],
];
const LATE_KEYWORDS = new Set(LATE_GROUPS.flat());
// Keywords that must stay on the outer schema: ajv reads `default` from the property schema itself.
const OUTER_KEYWORDS = new Set(['default', 'title', 'description', '$comment', 'examples', '$id', '$schema',
  'definitions', '$defs']);
/** Marks an `allOf` that compileSchema introduced, so errors do not report it as the user's `allOf`. */
const STAGED = 'x-gatehouse-staged';

function stageSchema(schema: unknown): unknown {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const src = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    switch (k) {
      case 'properties': case 'patternProperties': case 'definitions': case '$defs':
        out[k] = mapValues(v, stageSchema);
        break;
      case 'dependencies':
        out[k] = mapValues(v, (d) => (Array.isArray(d) ? d : stageSchema(d)));
        break;
      case 'items':
        out[k] = Array.isArray(v) ? v.map(stageSchema) : stageSchema(v);
        break;
      case 'allOf': case 'anyOf': case 'oneOf':
        out[k] = Array.isArray(v) ? v.map(stageSchema) : v;
        break;
      case 'additionalProperties': case 'additionalItems': case 'contains': case 'propertyNames':
      case 'not': case 'if': case 'then': case 'else':
        out[k] = stageSchema(v);
        break;
      default:
        out[k] = v;
    }
  }
  const keys = Object.keys(out);
  const early = keys.filter((k) => !LATE_KEYWORDS.has(k) && !OUTER_KEYWORDS.has(k));
  const groups: string[][] = early.length > 0 ? [early] : [];
  for (const g of LATE_GROUPS) {
    const present = g.filter((k) => k in out);
    if (present.length > 0) groups.push(present);
  }
  if (groups.length <= 1) return out;
  const outer: Record<string, unknown> = { [STAGED]: true };
  for (const k of keys) if (OUTER_KEYWORDS.has(k)) outer[k] = out[k];
  outer.allOf = groups.map((g) => Object.fromEntries(g.map((k) => [k, out[k]])));
  return outer;
}

function mapValues(v: unknown, fn: (x: unknown) => unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = fn(x);
  return out;
}

/**
 * Turns ajv errors into one APISIX-style message naming the field. Pass the validated
 * `data` so array indexes and object keys that look like numbers are told apart, and the
 * compiled schema (`validator.schema`) so a failing `allOf` branch is reported as
 * `allOf N failed: ...` the way APISIX does.
 */
export function formatSchemaError(errors: readonly ErrorObject[] | null | undefined, data?: unknown,
  schema?: unknown): string {
  if (!errors || errors.length === 0) return 'unknown schema error';
  const e = primaryError(errors);
  const segments = e.instancePath === '' ? [] : e.instancePath.slice(1).split('/').map(unescapePointer);
  const tokens = toTokens(segments, data);
  const prefixes = schema !== undefined ? allOfPrefixes(schema, e.schemaPath) : new Map<number, string>();

  let requiredLeaf = e.keyword === 'required';
  let msg = requiredLeaf ? '' : leafMessage(e);
  let names: string[] = requiredLeaf ? [String((e.params as { missingProperty: unknown }).missingProperty)] : [];
  const flush = (): void => {
    if (names.length === 0) return;
    msg = requiredLeaf
      ? `property "${names.join('.')}" is required`
      : `property "${names.join('.')}" validation failed: ${msg}`;
    requiredLeaf = false;
    names = [];
  };
  for (let depth = tokens.length; depth >= 0; depth--) {
    const prefix = prefixes.get(depth);
    if (prefix !== undefined) { flush(); msg = prefix + msg; }
    if (depth === 0) break;
    const t = tokens[depth - 1]!;
    if (t.kind === 'prop') names.unshift(t.name);
    else { flush(); msg = `failed to validate item ${t.index + 1}: ${msg}`; }
  }
  flush();
  return msg;
}

/** Instance depth → `allOf N failed: ` for every user-written allOf on the error's schema path. */
function allOfPrefixes(root: unknown, schemaPath: string): Map<number, string> {
  const out = new Map<number, string>();
  const segs = schemaPath.replace(/^#\/?/, '').split('/').filter((x) => x !== '').map(unescapePointer);
  let node = root as Record<string, unknown> | undefined;
  let depth = 0;
  for (let i = 0; i < segs.length && node !== null && typeof node === 'object';) {
    const k = segs[i]!;
    const child = node[k] as Record<string, unknown> | unknown[] | undefined;
    switch (k) {
      case 'properties': case 'patternProperties':
        node = (child as Record<string, unknown> | undefined)?.[segs[i + 1]!] as Record<string, unknown>;
        depth++; i += 2; break;
      case 'additionalProperties':
        node = child as Record<string, unknown>; depth++; i++; break;
      case 'items':
        if (Array.isArray(child)) { node = child[Number(segs[i + 1])] as Record<string, unknown>; i += 2; }
        else { node = child as Record<string, unknown>; i++; }
        depth++; break;
      case 'allOf': {
        const idx = Number(segs[i + 1]);
        if (node[STAGED] !== true) out.set(depth, (out.get(depth) ?? '') + `allOf ${idx + 1} failed: `);
        node = (child as unknown[] | undefined)?.[idx] as Record<string, unknown>; i += 2; break;
      }
      case 'anyOf': case 'oneOf':
        node = (child as unknown[] | undefined)?.[Number(segs[i + 1])] as Record<string, unknown>; i += 2; break;
      case 'dependencies': case 'definitions': case '$defs':
        node = (child as Record<string, unknown> | undefined)?.[segs[i + 1]!] as Record<string, unknown>; i += 2; break;
      case 'not': case 'if': case 'then': case 'else':
        node = child as Record<string, unknown>; i++; break;
      default:
        i = segs.length; // reached the failing keyword
    }
  }
  return out;
}

/** The error to report out of ajv's list (see pickError). */
export function primaryError(errors: readonly ErrorObject[]): ErrorObject {
  return pickError(errors, 0, errors.length);
}

/**
 * With allErrors off, the last error is the outermost failure. For anyOf/oneOf whose
 * branches differ by type (upstream `nodes`: map or array), the branch matching the
 * value's type is the one the user meant, so its own error is more useful than
 * "matches none".
 */
function pickError(errors: readonly ErrorObject[], from: number, to: number): ErrorObject {
  const e = errors[to - 1]!;
  if ((e.keyword !== 'anyOf' && e.keyword !== 'oneOf') || !Array.isArray(e.schema)) return e;
  if (e.keyword === 'oneOf' && (e.params as { passingSchemas?: unknown }).passingSchemas != null) return e;
  const prefix = `${e.schemaPath}/`;
  const branches = new Map<number, { from: number; to: number; typeMismatch: boolean }>();
  for (let i = from; i < to - 1; i++) {
    const b = errors[i]!;
    if (!b.schemaPath.startsWith(prefix)) continue;
    const idx = Number(b.schemaPath.slice(prefix.length).split('/')[0]);
    const entry = branches.get(idx) ?? { from: i, to: i + 1, typeMismatch: false };
    entry.to = i + 1;
    // The branch is for another shape of value when the value or one of its members has
    // the wrong type (a header map's value that is really an add/set object), or when
    // the value has a member the branch does not allow.
    if ((b.keyword === 'type' && isSelfOrChild(b.instancePath, e.instancePath))
      || (b.keyword === 'additionalProperties' && b.instancePath === e.instancePath)) entry.typeMismatch = true;
    branches.set(idx, entry);
  }
  if (branches.size !== e.schema.length) return e;
  const candidates = [...branches.values()].filter((b) => !b.typeMismatch);
  if (candidates.length !== 1) return e;
  return pickError(errors, candidates[0]!.from, candidates[0]!.to);
}

function isSelfOrChild(path: string, parent: string): boolean {
  return path === parent || (path.startsWith(`${parent}/`) && !path.slice(parent.length + 1).includes('/'));
}

type Token = { kind: 'prop'; name: string } | { kind: 'item'; index: number };

function toTokens(segments: string[], data: unknown): Token[] {
  const tokens: Token[] = [];
  let cur: unknown = data;
  for (const seg of segments) {
    const isIndex = cur !== undefined ? Array.isArray(cur) : /^\d+$/.test(seg);
    tokens.push(isIndex ? { kind: 'item', index: Number(seg) } : { kind: 'prop', name: seg });
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
  }
  return tokens;
}

function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Type names as the Lua validator prints them (objects and arrays are both `table`). */
export function luaTypeOf(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nil';
  if (typeof v === 'object') return 'table';
  if (typeof v === 'bigint') return 'number';
  return typeof v;
}

function leafMessage(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type': {
      const t = p.type;
      const want = Array.isArray(t) ? t : String(t).split(',');
      return want.length > 1
        ? `wrong type: expected one of ${want.join(', ')}, got ${luaTypeOf(e.data)}`
        : `wrong type: expected ${want[0]}, got ${luaTypeOf(e.data)}`;
    }
    case 'enum': return 'matches none of the enum values';
    case 'const': return 'failed to check const value';
    case 'additionalProperties': return `additional properties forbidden, found ${String(p.additionalProperty)}`;
    case 'minLength': return `string too short, expected at least ${String(p.limit)}, got ${strLen(e.data)}`;
    case 'maxLength': return `string too long, expected at most ${String(p.limit)}, got ${strLen(e.data)}`;
    case 'pattern': return `failed to match pattern ${JSON.stringify(p.pattern)} with ${JSON.stringify(e.data)}`;
    case 'format': return `expect valid ${String(p.format)} format but got: ${String(e.data)}`;
    case 'minimum': return `expected ${String(e.data)} to be at least ${String(p.limit)}`;
    case 'maximum': return `expected ${String(e.data)} to be at most ${String(p.limit)}`;
    case 'exclusiveMinimum': return `expected ${String(e.data)} to be greater than ${String(p.limit)}`;
    case 'exclusiveMaximum': return `expected ${String(e.data)} to be smaller than ${String(p.limit)}`;
    case 'multipleOf': return `expected ${String(e.data)} to be a multiple of ${String(p.multipleOf)}`;
    case 'minItems': return `expect array to have at least ${String(p.limit)} items`;
    case 'maxItems': return `expect array to have at most ${String(p.limit)} items`;
    case 'uniqueItems': {
      const a = Math.min(Number(p.i), Number(p.j)) + 1;
      const b = Math.max(Number(p.i), Number(p.j)) + 1;
      return `expected unique items but items ${a} and ${b} are equal`;
    }
    case 'minProperties': return `expect object to have at least ${String(p.limit)} properties`;
    case 'maxProperties': return `expect object to have at most ${String(p.limit)} properties`;
    case 'anyOf': {
      const requires = Array.isArray(e.schema)
        ? (e.schema as unknown[])
          .filter((s): s is { required: string[] } => typeof s === 'object' && s !== null
            && Array.isArray((s as { required?: unknown }).required))
          .map((s) => JSON.stringify(s.required))
        : [];
      return requires.length > 0
        ? `object matches none of the required: ${requires.join(' or ')}`
        : 'object matches none of the required';
    }
    case 'oneOf': {
      const passing = p.passingSchemas;
      if (Array.isArray(passing) && passing.length >= 2) {
        return `value should match only one schema, but matches both schemas ${Number(passing[0]) + 1} and ${Number(passing[1]) + 1}`;
      }
      return 'value should match only one schema, but matches none';
    }
    case 'not': return "value wasn't supposed to match schema";
    case 'if': return `${String(p.failingKeyword)} clause did not match`;
    case 'dependencies': case 'dependentRequired':
      return `property "${String(p.missingProperty)}" is required when ${String(p.property)} is set`;
    case 'false schema': return 'expect false always';
    case 'propertyNames': return `invalid property name ${JSON.stringify(p.propertyName)}`;
    default: return e.message ?? `failed keyword ${e.keyword}`;
  }
}

function strLen(v: unknown): number {
  return typeof v === 'string' ? [...v].length : 0;
}
