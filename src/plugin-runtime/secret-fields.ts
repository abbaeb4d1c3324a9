// Secret fields of plugin configuration: a schema property marked `encrypted: true`
// (APISIX's `encrypt_fields`) holds a credential (key-auth `key`, basic-auth `password`,
// jwt-auth `secret`/`private_key`). Readers without the admin role see it masked.
import type { Plugin } from '../contracts/plugin.js';

type Obj = Record<string, unknown>;

/** What a viewer reads instead of a secret value. */
export const REDACTED = '******';

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

const pathsCache = new WeakMap<object, string[][]>();

/** The path segment standing for "every item" of an array (`items` of the schema). */
export const EVERY_ITEM = '[]';

/**
 * Paths (property names from the config's root) of every property marked `encrypted: true`,
 * following `properties`, array `items` (as EVERY_ITEM: oauth's `consumers[].client_secret`)
 * and the branches of `allOf`/`anyOf`/`oneOf`/`if`/`then`/`else`.
 */
export function secretPaths(schema: Obj): string[][] {
  let paths = pathsCache.get(schema);
  if (paths !== undefined) return paths;
  const found = new Map<string, string[]>();
  const walk = (s: unknown, at: string[]): void => {
    if (!isObject(s)) return;
    if (s.encrypted === true && at.length > 0) found.set(at.join('\u0000'), at);
    if (isObject(s.properties)) for (const [k, sub] of Object.entries(s.properties)) walk(sub, [...at, k]);
    walk(s.items, [...at, EVERY_ITEM]);
    for (const key of ['allOf', 'anyOf', 'oneOf']) {
      if (Array.isArray(s[key])) for (const branch of s[key] as unknown[]) walk(branch, at);
    }
    for (const key of ['if', 'then', 'else']) walk(s[key], at);
  };
  walk(schema, []);
  paths = [...found.values()];
  pathsCache.set(schema, paths);
  return paths;
}

/** A copy of `conf` with the values at `paths` replaced by REDACTED (absent ones stay absent). */
export function redactPaths(conf: Obj, paths: readonly string[][]): Obj {
  if (paths.length === 0) return conf;
  const out = structuredClone(conf);
  for (const path of paths) redactAt(out, path);
  return out;
}

function redactAt(cur: unknown, path: readonly string[]): void {
  const [head, ...rest] = path;
  if (head === EVERY_ITEM) {
    if (Array.isArray(cur)) for (const item of cur) redactAt(item, rest);
    return;
  }
  if (!isObject(cur) || head === undefined || !Object.hasOwn(cur, head) || cur[head] === undefined || cur[head] === null) return;
  if (rest.length === 0) cur[head] = REDACTED;
  else redactAt(cur[head], rest);
}

/**
 * `plugins` with every secret field masked, read from each plugin's consumer schema
 * (`schemaType: 'consumer'`, falling back to its schema), its metadata schema
 * (`'metadata'`: the value is the plugin's metadata) or its schema. Plugins that are not
 * installed are masked whole: nothing says which of their fields are secret.
 */
export function redactPluginSecrets(plugins: Obj, pluginOf: (name: string) => Plugin | undefined,
  schemaType: 'default' | 'consumer' | 'metadata'): Obj {
  const out: Obj = {};
  for (const [name, conf] of Object.entries(plugins)) {
    const plugin = pluginOf(name);
    if (plugin === undefined) {
      out[name] = REDACTED;
      continue;
    }
    const schema = schemaType === 'consumer' ? plugin.consumerSchema ?? plugin.schema
      : schemaType === 'metadata' ? plugin.metadataSchema : plugin.schema;
    out[name] = isObject(conf) && schema !== undefined ? redactPaths(conf, secretPaths(schema as Obj)) : conf;
  }
  return out;
}
