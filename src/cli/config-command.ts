// `gatehouse config export | import FILE | diff FILE`: moves a whole configuration between
// the store and an APISIX standalone file. The file is the unit: import validates all of
// it (every object, every reference) before touching the store, then replaces the
// store's content in one transaction. SQLite in WAL mode lets this run next to a live
// gateway, whose store watch picks the change up.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { ResourceKind } from '../contracts/resources.js';
import type { ConfigStore, StoredObject } from '../contracts/store.js';
import { createStore } from '../config-store/create-store.js';
import { diffConfig, SqliteStore, type ConfigDiff, type ObjectKey } from '../config-store/sqlite-store.js';
import { parseStandaloneConfig, STANDALONE_KEYS, type StandaloneObject } from '../config-store/standalone-parse.js';
import { splitCredentialKey } from '../config-store/state.js';
import { loadNodeConfig } from '../core/node-config.js';

export const CONFIG_USAGE = `Usage: gatehouse config <subcommand> [file] [-c conf/config.yaml]

Subcommands:
  export        print the store's configuration as an APISIX standalone YAML file
  import FILE   validate FILE (standalone format) and make it the store's whole content
  diff FILE     print what import would add (+), change (~) and remove (-), without writing
`;

export interface CommandOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

const PROCESS_OUTPUT: CommandOutput = {
  stdout: (t) => { process.stdout.write(t); },
  stderr: (t) => { process.stderr.write(t); },
};

type Obj = Record<string, unknown>;

const IMPORT_LIST_LIMIT = 50;

/** Runs one `config` subcommand; returns the exit code (0 ok, 1 failed, 2 usage). */
export async function configCommand(configFile: string, args: string[], out: CommandOutput = PROCESS_OUTPUT): Promise<number> {
  const [sub, file, ...extra] = args;
  const needsFile = sub === 'import' || sub === 'diff';
  if ((sub !== 'export' && !needsFile) || (needsFile && file === undefined) || (!needsFile && file !== undefined)
    || extra.length > 0) {
    out.stderr(`${sub === undefined ? 'config needs a subcommand' : `bad arguments: config ${args.join(' ')}`}\n\n${CONFIG_USAGE}`);
    return 2;
  }
  const config = await loadNodeConfig(configFile);
  let objects: StandaloneObject[] = [];
  if (file !== undefined) {
    try {
      objects = await readStandaloneFile(file);
    } catch (e) {
      out.stderr(`${path.resolve(file)}: ${(e as Error).message}\n`);
      return 1;
    }
    if (sub === 'import' && config.store.type !== 'sqlite') {
      out.stderr(`config import writes to a sqlite store, but ${configFile} uses store.type ${config.store.type}`
        + (config.store.type === 'standalone' ? ` (edit ${config.store.standalone.file} instead)` : '') + '\n');
      return 1;
    }
  }

  const store = await createStore(config);
  try {
    // A standalone file cannot carry custom plugins (their binaries are blobs of the store):
    // export leaves them out, and import and diff leave the store's as they are.
    const customPlugins = await store.list('custom_plugins');
    if (sub === 'export') {
      const state = await store.load();
      const { text, orphans } = toStandaloneYaml(state.objects, `${describe(store)}, revision ${state.revision}`);
      for (const o of orphans) out.stderr(`warning: credential "${o.id}" has no consumer; it is not exported\n`);
      if (customPlugins.length > 0) {
        out.stderr(`note: ${customPlugins.length} custom plugin(s) not exported (${customPlugins.map((o) => o.id).join(', ')}): `
          + 'a standalone file cannot carry their binaries; config import leaves them in place\n');
      }
      out.stdout(text);
      return 0;
    }
    objects = [...objects, ...customPlugins.map((o) => ({ kind: o.kind, id: o.id, value: o.value, label: `custom_plugins (id "${o.id}")` }))];
    if (sub === 'diff') {
      const diff = diffConfig((await store.load()).objects, objects);
      out.stdout(formatDiff(diff) + (countOf(diff) === 0 ? 'no differences\n' : `${summary(diff, 'to add', 'to change', 'to remove')}\n`));
      return 0;
    }
    if (!(store instanceof SqliteStore)) throw new Error(`store.type ${config.store.type} cannot be written by config import`);
    const result = await store.replaceAll(objects);
    out.stdout(formatDiff(result, IMPORT_LIST_LIMIT) + `imported ${path.resolve(file!)} into ${store.file}: `
      + (countOf(result) === 0 ? 'no changes' : summary(result, 'added', 'changed', 'removed'))
      + ` (revision ${result.revision})\n`);
    return 0;
  } finally {
    await store.close();
  }
}

/** Reads and validates a whole standalone file (YAML, or JSON by extension); throws the parser's message naming object and field. */
export async function readStandaloneFile(file: string): Promise<StandaloneObject[]> {
  const text = await readFile(file, 'utf8');
  return parseStandaloneConfig(text, { format: path.extname(file).toLowerCase() === '.json' ? 'json' : 'yaml' });
}

/**
 * Objects as an APISIX standalone document: top-level lists in the parser's order, ids
 * kept (`id`, or `username` for consumers), credentials nested under their consumer.
 * Credentials whose consumer is missing cannot be written in this shape; they are
 * returned as `orphans`.
 */
export function toStandaloneDocument(objects: readonly StoredObject[]): { doc: Record<string, Obj[]>; orphans: StoredObject[] } {
  const byKind = new Map<ResourceKind, StoredObject[]>();
  for (const o of objects) {
    const list = byKind.get(o.kind);
    if (list === undefined) byKind.set(o.kind, [o]);
    else list.push(o);
  }
  const creds = new Map<string, Obj[]>();
  for (const c of byKind.get('credentials') ?? []) {
    const { username, id } = splitCredentialKey(c.id);
    const list = creds.get(username) ?? [];
    list.push({ ...c.value, id });
    creds.set(username, list);
  }
  const doc: Record<string, Obj[]> = {};
  for (const kind of STANDALONE_KEYS) {
    const items = (byKind.get(kind) ?? []).map((o): Obj => {
      if (kind !== 'consumers') return withFirst('id', o.id, o.value);
      const consumer = withFirst('username', o.id, o.value);
      const own = creds.get(o.id);
      if (own !== undefined) consumer.credentials = own;
      creds.delete(o.id);
      return consumer;
    });
    if (items.length > 0) doc[kind] = items;
  }
  const orphans = (byKind.get('credentials') ?? []).filter((c) => creds.has(splitCredentialKey(c.id).username));
  return { doc, orphans };
}

/** The standalone YAML text for `objects`, with a header comment naming where it came from. */
export function toStandaloneYaml(objects: readonly StoredObject[], source: string): { text: string; orphans: StoredObject[] } {
  const { doc, orphans } = toStandaloneDocument(objects);
  // an empty store still exports a file that imports (an empty file is refused as a likely accident)
  const body = Object.keys(doc).length === 0 ? 'routes: []\n'
    : stringify(doc, { aliasDuplicateObjects: false, lineWidth: 0 });
  return { text: `# Gatehouse configuration exported from ${source}.\n# APISIX standalone format: \`gatehouse config import\` reads it back.\n${body}`, orphans };
}

function withFirst(key: string, id: string, value: Obj): Obj {
  const { [key]: _dropped, ...rest } = value;
  return { [key]: id, ...rest };
}

function describe(store: ConfigStore): string {
  if (store instanceof SqliteStore) return `the sqlite store ${store.file}`;
  return `the ${store.type} store`;
}

/** One line per object (`+ routes/r1`); `limit` shortens long lists (`config diff` shows them whole). */
function formatDiff(diff: ConfigDiff, limit = Infinity): string {
  const line = (mark: string) => (k: ObjectKey): string => `${mark} ${k.kind}/${k.id}\n`;
  const lines = [...diff.added.map(line('+')), ...diff.changed.map(line('~')), ...diff.removed.map(line('-'))];
  if (lines.length <= limit) return lines.join('');
  return lines.slice(0, limit).join('') + `... and ${lines.length - limit} more\n`;
}

function countOf(diff: ConfigDiff): number {
  return diff.added.length + diff.changed.length + diff.removed.length;
}

function summary(diff: ConfigDiff, added: string, changed: string, removed: string): string {
  return `${diff.added.length} ${added}, ${diff.changed.length} ${changed}, ${diff.removed.length} ${removed}`;
}
