// SecLang variables: what a target such as `ARGS:id`, `&TX:x` or `!REQUEST_COOKIES:/^_ga/`
// yields for one request. Persistent collections (IP, SESSION, GLOBAL…) live for one
// request only: nothing is shared between requests or workers.
import type { Pair, RequestData } from './request-data.js';
import type { RE2JS } from 're2js';

/** One target of a rule: a collection, optionally one key of it (by name or by regex), or its count (`&`). */
export interface Target {
  collection: string;
  /** Lower-case key, when selected by name. */
  key: string | undefined;
  keyRegex: RE2JS | undefined;
  count: boolean;
}

/** The per-request state variables read besides the request itself. */
export interface VariableState {
  readonly data: RequestData;
  /** TX and the other writable collections, lower-case keys. */
  readonly collections: Map<string, Map<string, string>>;
  matchedVar: string;
  matchedVarName: string;
  readonly matchedVars: Pair[];
  /** Whether REQUEST_BODY is exposed (URLENCODED processor or ctl:forceRequestBodyVariable). */
  forceBodyVariable: boolean;
  readonly rule: { id: number; msg: string; severity: string };
  highestSeverity: number;
}

export const WRITABLE_COLLECTIONS = new Set(['TX', 'IP', 'SESSION', 'GLOBAL', 'RESOURCE', 'USER']);

type Resolver = (s: VariableState) => Pair[];

type ScalarGetter = (s: VariableState) => string | number | undefined;
/** Single-valued variables, read without building pair lists (most CRS targets are these or TX). */
const SCALAR_GETTERS = new Map<string, ScalarGetter>();

const scalar = (name: string, get: ScalarGetter): [string, Resolver] => {
  SCALAR_GETTERS.set(name, get);
  return [name, (s) => {
    const v = get(s);
    return v === undefined ? [] : [[name, String(v)]];
  }];
};

/** A single-valued target's value (undefined: absent), or NOT_SCALAR for a collection or a count. */
export const NOT_SCALAR = Symbol('collection');
export function scalarValue(t: Target, s: VariableState, exclusions: readonly Target[]): string | undefined | typeof NOT_SCALAR {
  if (t.count) return NOT_SCALAR;
  if (t.key !== undefined) {
    // One named header or TX variable: a lookup, no pair list.
    if (WRITABLE_COLLECTIONS.has(t.collection)) return s.collections.get(t.collection)?.get(t.key);
    if (t.collection === 'REQUEST_HEADERS' && !exclusions.some((e) => e.collection === 'REQUEST_HEADERS')) return s.data.header(t.key);
  }
  const get = SCALAR_GETTERS.get(t.collection);
  if (get === undefined) return NOT_SCALAR;
  const v = get(s);
  return v === undefined ? undefined : String(v);
}

const namesOf = (pairs: Pair[]): Pair[] => pairs.map(([k]) => [k, k]);
const argNames = new WeakMap<Pair[], Pair[]>();
/** ARGS_NAMES, built once per argument list (several rules read it). */
const argsNamesOf = (args: Pair[]): Pair[] => {
  let names = argNames.get(args);
  if (names === undefined) argNames.set(args, (names = namesOf(args)));
  return names;
};
const argsAll = (s: VariableState): Pair[] => s.data.args();
const collection = (name: string) => (s: VariableState): Pair[] => [...(s.collections.get(name)?.entries() ?? [])];

function requestLine(s: VariableState): string {
  return `${s.data.req.method} ${s.data.req.rawUri} ${s.data.req.protocol}`;
}

const RESOLVERS = new Map<string, Resolver>([
  ['ARGS', argsAll],
  ['ARGS_GET', (s) => s.data.argsGet()],
  ['ARGS_POST', (s) => s.data.argsPost()],
  ['ARGS_NAMES', (s) => argsNamesOf(argsAll(s))],
  ['ARGS_GET_NAMES', (s) => namesOf(s.data.argsGet())],
  ['ARGS_POST_NAMES', (s) => namesOf(s.data.argsPost())],
  scalar('ARGS_COMBINED_SIZE', (s) => argsAll(s).reduce((n, [k, v]) => n + k.length + v.length, 0)),
  ['REQUEST_HEADERS', (s) => s.data.headers()],
  ['REQUEST_HEADERS_NAMES', (s) => namesOf(s.data.headers())],
  ['REQUEST_COOKIES', (s) => s.data.cookies()],
  ['REQUEST_COOKIES_NAMES', (s) => namesOf(s.data.cookies())],
  ['FILES', (s) => s.data.files().map((f) => [f.name, f.filename ?? ''])],
  ['FILES_NAMES', (s) => s.data.files().map((f) => [f.name, f.name])],
  ['FILES_SIZES', (s) => s.data.files().map((f) => [f.name, String(f.value.length)])],
  scalar('FILES_COMBINED_SIZE', (s) => s.data.files().reduce((n, f) => n + f.value.length, 0)),
  ['MULTIPART_PART_HEADERS', () => []],
  ['XML', () => []],
  ['GEO', () => []],
  ['ENV', () => []],
  ['RESPONSE_HEADERS', () => []],
  ['RESPONSE_HEADERS_NAMES', () => []],
  ['MATCHED_VARS', (s) => s.matchedVars],
  ['MATCHED_VARS_NAMES', (s) => s.matchedVars.map(([k]) => [k, k])],
  ['RULE', (s) => [['id', String(s.rule.id)], ['msg', s.rule.msg], ['severity', s.rule.severity]]],
  scalar('REQUEST_URI', (s) => s.data.req.rawUri),
  scalar('REQUEST_URI_RAW', (s) => s.data.req.rawUri),
  scalar('REQUEST_FILENAME', (s) => s.data.path),
  scalar('PATH_INFO', () => ''),
  scalar('REQUEST_BASENAME', (s) => s.data.path.slice(s.data.path.lastIndexOf('/') + 1)),
  scalar('REQUEST_LINE', requestLine),
  scalar('REQUEST_METHOD', (s) => s.data.req.method),
  scalar('REQUEST_PROTOCOL', (s) => s.data.req.protocol),
  scalar('QUERY_STRING', (s) => s.data.queryString),
  scalar('REQUEST_BODY', (s) => (s.forceBodyVariable || s.data.bodyProcessor === 'URLENCODED' ? s.data.body : undefined)),
  scalar('REQUEST_BODY_LENGTH', (s) => s.data.body?.length ?? 0),
  scalar('FULL_REQUEST_LENGTH', (s) => requestLine(s).length + (s.data.body?.length ?? 0)
    + s.data.headers().reduce((n, [k, v]) => n + k.length + v.length + 4, 0)),
  scalar('REQBODY_PROCESSOR', (s) => s.data.bodyProcessor),
  scalar('REQBODY_ERROR', (s) => (s.data.argsPost(), s.data.bodyError === '' ? 0 : 1)),
  scalar('REQBODY_ERROR_MSG', (s) => (s.data.argsPost(), s.data.bodyError)),
  scalar('REQBODY_PROCESSOR_ERROR', (s) => (s.data.argsPost(), s.data.bodyError === '' ? 0 : 1)),
  scalar('MULTIPART_STRICT_ERROR', () => 0),
  scalar('MULTIPART_UNMATCHED_BOUNDARY', () => 0),
  scalar('INBOUND_DATA_ERROR', () => 0),
  scalar('REMOTE_ADDR', (s) => s.data.req.remoteAddr),
  scalar('REMOTE_HOST', (s) => s.data.req.remoteAddr),
  scalar('REMOTE_PORT', (s) => s.data.req.remotePort),
  scalar('SERVER_NAME', (s) => s.data.req.host),
  scalar('SERVER_PORT', (s) => s.data.req.serverPort),
  scalar('SERVER_ADDR', () => '127.0.0.1'),
  scalar('UNIQUE_ID', (s) => s.data.req.uniqueId),
  scalar('DURATION', (s) => Math.round((performance.now() - s.data.req.startedAt) * 1000)),
  scalar('TIME_EPOCH', () => Math.floor(Date.now() / 1000)),
  scalar('TIME', () => new Date().toISOString().slice(11, 19)),
  scalar('MATCHED_VAR', (s) => s.matchedVar),
  scalar('MATCHED_VAR_NAME', (s) => s.matchedVarName),
  scalar('HIGHEST_SEVERITY', (s) => s.highestSeverity),
  scalar('AUTH_TYPE', () => ''),
  scalar('USERID', () => ''),
  scalar('SESSIONID', () => ''),
  // Phases 3–5 are not evaluated (docs/plugins/waf.md): their variables are empty.
  scalar('RESPONSE_STATUS', () => undefined),
  scalar('RESPONSE_BODY', () => undefined),
  scalar('RESPONSE_PROTOCOL', () => undefined),
  scalar('RESPONSE_CONTENT_TYPE', () => undefined),
  scalar('RESPONSE_CONTENT_LENGTH', () => undefined),
  scalar('STATUS_LINE', () => undefined),
  scalar('WEBSERVER_ERROR_LOG', () => undefined),
]);
for (const name of WRITABLE_COLLECTIONS) RESOLVERS.set(name, collection(name));

export const KNOWN_VARIABLES: ReadonlySet<string> = new Set(RESOLVERS.keys());

const SCALARS = new Set([...RESOLVERS.keys()].filter((k) => !/^(ARGS|ARGS_GET|ARGS_POST|.*_NAMES|REQUEST_HEADERS|REQUEST_COOKIES|FILES|FILES_SIZES|MULTIPART_PART_HEADERS|XML|GEO|ENV|RESPONSE_HEADERS|MATCHED_VARS|RULE|TX|IP|SESSION|GLOBAL|RESOURCE|USER)$/.test(k)));

function selects(t: Target, key: string): boolean {
  if (t.key !== undefined) return key.length === t.key.length && (key === t.key || key.toLowerCase() === t.key);
  if (t.keyRegex !== undefined) return t.keyRegex.test(key);
  return true;
}

/**
 * The (key, value) pairs one target yields (a count target: its count); the variable's full
 * name (`ARGS:id`) is `targetName(t, key)`, built only for a match.
 */
export function resolveTarget(t: Target, s: VariableState, exclusions: readonly Target[]): Pair[] {
  if (t.key !== undefined && !t.count && WRITABLE_COLLECTIONS.has(t.collection)) {
    // TX:name and friends: keys are stored lower-case, one lookup instead of a scan.
    const v = s.collections.get(t.collection)?.get(t.key);
    return v === undefined ? [] : [[t.key, v]];
  }
  if (t.key !== undefined && t.collection === 'REQUEST_HEADERS' && exclusions.length === 0) {
    // Node's header names are lower-case already: one lookup instead of a scan.
    const v = s.data.header(t.key);
    if (t.count) return [['', v === undefined ? '0' : '1']];
    return v === undefined ? [] : [[t.key, v]];
  }
  const resolver = RESOLVERS.get(t.collection)!;
  let pairs = resolver(s);
  const isScalar = SCALARS.has(t.collection);
  if (!isScalar && (t.key !== undefined || t.keyRegex !== undefined)) pairs = pairs.filter(([k]) => selects(t, k));
  if (!isScalar && exclusions.length > 0 && pairs.length > 0 && exclusions.some((e) => e.collection === t.collection)) {
    const mine = exclusions.filter((e) => e.collection === t.collection);
    if (mine.some((e) => e.key === undefined && e.keyRegex === undefined)) return t.count ? [['', '0']] : [];
    pairs = pairs.filter(([k]) => !mine.some((e) => selects(e, k)));
  }
  if (t.count) return [['', String(pairs.length)]];
  return pairs;
}

/** `ARGS:id`, `REQUEST_URI`, `&TX:x`: how MATCHED_VAR_NAME names a target's value. */
export function targetName(t: Target, key: string): string {
  if (t.count) return `&${t.collection}${t.key !== undefined ? `:${t.key}` : ''}`;
  return SCALARS.has(t.collection) ? t.collection : `${t.collection}:${key}`;
}

/** Looks up one value for a macro (`%{tx.anomaly_score}`, `%{MATCHED_VAR}`, `%{request_headers.host}`). */
export function macroValue(expr: string, s: VariableState): string {
  const dot = expr.indexOf('.');
  const name = (dot < 0 ? expr : expr.slice(0, dot)).toUpperCase();
  const key = dot < 0 ? undefined : expr.slice(dot + 1).toLowerCase();
  const resolver = RESOLVERS.get(name);
  if (resolver === undefined) return '';
  if (WRITABLE_COLLECTIONS.has(name)) return key === undefined ? '' : s.collections.get(name)?.get(key) ?? '';
  const pairs = resolver(s);
  if (key === undefined || SCALARS.has(name)) return pairs[0]?.[1] ?? '';
  return pairs.find(([k]) => k.toLowerCase() === key)?.[1] ?? '';
}
