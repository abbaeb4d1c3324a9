// Parsing and validation of a standalone configuration file (APISIX standalone format),
// separate from the watching so `gatehouse check` and tests can use it on plain text.
//
// Format: a mapping whose keys are resource kinds, each a list of objects.
//   * items without `id` get `arr_<n>` with n counted from 1, as APISIX does (`arr_1` is
//     the first item); error labels count from 0 (`routes[0]`), like the YAML/JSON lists.
//   * consumers are keyed by `username`; plugin_metadata by `id` (= the plugin name).
//   * credentials are written under their consumer: `consumers[i].credentials: [...]`;
//     their store id is `<username>/<credential id>`.
//   * `${{VAR}}` / `${{VAR:=default}}` are replaced from the environment before parsing.
//   * APISIX's `#END` marker is accepted (it is a comment) but not required.
import { parseDocument } from 'yaml';
import type { ResourceKind } from '../contracts/resources.js';
import { GatehouseError } from '../core/errors.js';
import { substituteEnv } from '../core/node-config.js';
import { credentialKey } from './state.js';
import { findGlobalRuleConflict, findObjectReferenceProblem, validateResource, type ValidateOptions } from './validate.js';

/** Top-level keys of the file, in the order they are validated. */
export const STANDALONE_KEYS = [
  'upstreams', 'services', 'routes', 'consumer_groups', 'consumers', 'plugin_configs',
  'global_rules', 'plugin_metadata', 'ssls', 'secrets', 'stream_routes',
] as const satisfies readonly ResourceKind[];

/** One validated object, with the label that names it in error messages (`routes[2] (id "r3")`). */
export interface StandaloneObject {
  kind: ResourceKind;
  id: string;
  value: Record<string, unknown>;
  label: string;
}

export interface ParseOptions extends ValidateOptions {
  format?: 'yaml' | 'json';
  env?: NodeJS.ProcessEnv;
}

type Obj = Record<string, unknown>;

function invalid(message: string, cause?: unknown): GatehouseError {
  return new GatehouseError('GH_ERR_CONFIG_INVALID', message, cause === undefined ? undefined : { cause });
}

/**
 * Parses and validates a whole file. Returns every object (normalised by validateResource)
 * or throws GH_ERR_CONFIG_INVALID for the first problem, naming the object and the field:
 * `routes[2] (id "r3"): invalid configuration: property "uri" validation failed: ...`.
 */
export function parseStandaloneConfig(text: string, opts: ParseOptions = {}): StandaloneObject[] {
  const doc = parseText(substituteEnv(text, opts.env ?? process.env), opts.format ?? 'yaml');
  if (doc === null || doc === undefined) {
    // Also what a file truncated to nothing looks like: never read it as "delete everything".
    throw invalid('the configuration file is empty; write at least one key (for example `routes: []`)');
  }
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw invalid('the configuration file must be a mapping of resource lists (routes, upstreams, ...)');
  }
  const root = doc as Obj;
  for (const key of Object.keys(root)) {
    if (!(STANDALONE_KEYS as readonly string[]).includes(key)) {
      throw invalid(`unknown top-level key "${key}" (expected one of ${STANDALONE_KEYS.join(', ')})`);
    }
  }

  const out: StandaloneObject[] = [];
  const seen = new Map<string, string>();
  const add = (o: StandaloneObject): void => {
    const k = `${o.kind}\u0000${o.id}`;
    const other = seen.get(k);
    if (other !== undefined) throw invalid(`${o.label}: duplicate id, also used by ${other}`);
    seen.set(k, o.label);
    out.push(o);
  };

  for (const kind of STANDALONE_KEYS) {
    const items = root[kind];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) throw invalid(`${kind}: must be a list, got ${typeName(items)}`);
    items.forEach((item: unknown, i: number) => {
      const where = `${kind}[${i}]`;
      if (item === null || typeof item !== 'object' || Array.isArray(item)) {
        throw invalid(`${where}: must be an object, got ${typeName(item)}`);
      }
      if (kind === 'consumers') {
        for (const o of consumerObjects(item as Obj, where, opts)) add(o);
        return;
      }
      const value = { ...(item as Obj) };
      if (kind !== 'plugin_metadata' && value.id === undefined) value.id = `arr_${i + 1}`;
      const id = value.id === undefined ? undefined : String(value.id);
      const label = id === undefined ? where : `${where} (id "${id}")`;
      add({ kind, id: id ?? '', value: check(kind, value, label, opts), label });
    });
  }

  const byKey = new Map(out.map((o) => [`${o.kind}\u0000${o.id}`, o]));
  const lookup = {
    get: (kind: ResourceKind, id: string) => {
      const o = byKey.get(`${kind}\u0000${id}`);
      return o === undefined ? undefined : { kind, id, value: o.value, createdIndex: 0, modifiedIndex: 0 };
    },
  };
  for (const o of out) {
    const problem = findObjectReferenceProblem(o.kind, o.id, o.value, lookup);
    if (problem !== undefined) throw invalid(`${o.label}: ${problem}`);
  }
  const globalRules = out.filter((o) => o.kind === 'global_rules');
  for (const [i, o] of globalRules.entries()) {
    const conflict = findGlobalRuleConflict(o.id, o.value, globalRules.slice(0, i));
    if (conflict !== undefined) throw invalid(`${o.label}: ${conflict}`);
  }
  return out;
}

function consumerObjects(item: Obj, where: string, opts: ParseOptions): StandaloneObject[] {
  const { credentials, ...consumer } = item;
  const username = typeof consumer.username === 'string' ? consumer.username : undefined;
  const label = username === undefined ? where : `${where} (username "${username}")`;
  const out: StandaloneObject[] = [
    { kind: 'consumers', id: username ?? '', value: check('consumers', consumer, label, opts), label },
  ];
  if (credentials === undefined || credentials === null) return out;
  if (!Array.isArray(credentials)) throw invalid(`${label}: credentials must be a list, got ${typeName(credentials)}`);
  credentials.forEach((cred: unknown, j: number) => {
    const cwhere = `${where}.credentials[${j}]`;
    if (cred === null || typeof cred !== 'object' || Array.isArray(cred)) {
      throw invalid(`${cwhere}: must be an object, got ${typeName(cred)}`);
    }
    const value = { ...(cred as Obj) };
    if (value.id === undefined) value.id = `arr_${j + 1}`;
    const id = credentialKey(username!, String(value.id));
    const clabel = `${cwhere} (id "${id}")`;
    out.push({ kind: 'credentials', id, value: check('credentials', value, clabel, opts), label: clabel });
  });
  return out;
}

function check(kind: ResourceKind, value: Obj, label: string, opts: ValidateOptions): Obj {
  try {
    return validateResource(kind, value, opts);
  } catch (e) {
    throw invalid(`${label}: ${(e as Error).message}`, e);
  }
}

function parseText(text: string, format: 'yaml' | 'json'): unknown {
  if (format === 'json') {
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw invalid(`invalid JSON: ${(e as Error).message}`, e);
    }
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  const first = doc.errors[0];
  // the message's first line already says `at line L, column C`; the code frame is dropped
  if (first !== undefined) throw invalid(`invalid YAML: ${first.message.split('\n')[0]!.replace(/:$/, '')}`, first);
  return doc.toJS({ maxAliasCount: 1000 }) as unknown;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : typeof v;
}
