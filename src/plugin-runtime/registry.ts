import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { Plugin, Stage } from '../contracts/plugin.js';
import { STAGES, STAGE_ALIASES } from '../contracts/plugin.js';
import type { PluginCheckWhere } from '../config-store/validate.js';
import { compileSchema, checkSchema, type SchemaValidator } from '../core/schema.js';
import { logger } from '../core/logger.js';
import { compileMeta, injectMeta, type MetaConf } from './meta.js';

export interface LoadedPlugin {
  readonly plugin: Plugin;
  readonly schema: Record<string, unknown>;
  readonly validate: SchemaValidator;
  readonly validateConsumer: SchemaValidator | undefined;
  readonly validateMetadata: SchemaValidator | undefined;
  readonly stageIndex: number;
}

const BUILTIN_DIR = fileURLToPath(new URL('../plugins/', import.meta.url));
const requireCache = createRequire(import.meta.url).cache;
const MODULE_FILE = /\.(js|mjs|cjs)$/;

/**
 * Every plugin module in a folder: `*.js`, `*.mjs` and `*.cjs` files that are not tests;
 * each default-exports a Plugin (`module.exports = plugin` in CommonJS). A reload
 * re-evaluates each plugin file: ES modules are imported under a new URL, CommonJS ones
 * are dropped from the require cache first (which `import()` of CommonJS goes through).
 * Modules a plugin file itself imports or requires are not re-evaluated.
 */
interface PluginModule {
  plugin: Plugin;
  /** The file it came from (named in load errors). */
  file: string;
}

async function importFolder(dir: string, generation: number): Promise<PluginModule[]> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch {
    return [];
  }
  const out: PluginModule[] = [];
  for (const f of files.sort()) {
    if (!MODULE_FILE.test(f) || /\.test\.[cm]?js$/.test(f) || f === 'index.js') continue;
    const file = join(dir, f);
    delete requireCache[file];
    // A query string makes reload re-evaluate the module instead of returning the cached one.
    const mod = (await import(`${pathToFileURL(file).href}?v=${generation}`)) as { default?: Plugin };
    if (mod.default !== undefined && typeof mod.default === 'object' && typeof mod.default.name === 'string') out.push({ plugin: mod.default, file });
  }
  return out;
}

/**
 * A custom module named like a built-in would replace it for every route without a
 * word (a stray copy in a plugin folder, or a hostile one). That only happens when the
 * node config lists the name in `plugin_overrides`; otherwise loading fails, naming both.
 */
function checkOverrides(builtins: readonly PluginModule[], custom: readonly PluginModule[], overrides: ReadonlySet<string>): void {
  const builtinFiles = new Map(builtins.map((m) => [m.plugin.name, m.file]));
  for (const m of custom) {
    const builtinFile = builtinFiles.get(m.plugin.name);
    if (builtinFile === undefined || overrides.has(m.plugin.name)) continue;
    throw new Error(`plugin file ${m.file} is named "${m.plugin.name}", the name of the built-in plugin ${builtinFile}; `
      + `rename it, or list "${m.plugin.name}" in plugin_overrides of the node config to replace the built-in on purpose`);
  }
}

function checkShape(p: Plugin): void {
  if (p.version === undefined) throw new Error(`invalid plugin [${p.name}] missing field: version`);
  if (typeof p.priority !== 'number' || !Number.isInteger(p.priority)) throw new Error(`invalid plugin [${p.name}], missing field: priority`);
  if (!STAGES.includes(p.stage)) throw new Error(`invalid plugin [${p.name}]: unknown stage "${String(p.stage)}"`);
  if (typeof p.schema !== 'object' || p.schema === null) throw new Error(`invalid plugin [${p.name}] schema field`);
}

/**
 * The installed plugins: built-ins (and custom plugin folders) filtered by the node's
 * whitelist, with their schemas compiled once. One registry per process and per reload.
 */
export class PluginRegistry {
  private readonly byName = new Map<string, LoadedPlugin>();
  private readonly log = logger().child({ module: 'plugin-registry' });

  /** Bumped by every add and remove after load (wasm plugins published, disabled, replaced): snapshots re-prepare. */
  revision = 0;

  private constructor(readonly generation: number) {}

  /**
   * Loads built-ins, then each folder of `dirs`; a later module with the same name
   * replaces an earlier one. Throws (and nothing is loaded) when a custom module
   * takes a built-in's name that `overrides` does not list.
   */
  static async load(opts: {
    whitelist?: readonly string[]; dirs?: readonly string[]; overrides?: readonly string[]; generation?: number;
  } = {}): Promise<PluginRegistry> {
    const generation = opts.generation ?? 0;
    const reg = new PluginRegistry(generation);
    const builtins = await importFolder(BUILTIN_DIR, generation);
    const custom: PluginModule[] = [];
    for (const dir of opts.dirs ?? []) custom.push(...(await importFolder(dir, generation)));
    const overrides = new Set(opts.overrides ?? []);
    checkOverrides(builtins, custom, overrides);
    for (const name of overrides) {
      if (!custom.some((m) => m.plugin.name === name)) {
        reg.log.warn({ plugin: name }, `plugin_overrides lists [${name}] but no module in plugin_dirs has that name; the built-in runs`);
      }
    }
    for (const m of custom) {
      if (overrides.has(m.plugin.name) && builtins.some((b) => b.plugin.name === m.plugin.name)) {
        reg.log.warn({ plugin: m.plugin.name, file: m.file }, `built-in plugin [${m.plugin.name}] replaced by ${m.file} (plugin_overrides)`);
      }
    }
    const candidates = [...builtins, ...custom].map((m) => m.plugin);
    const allowed = opts.whitelist === undefined ? undefined : new Set(opts.whitelist);
    for (const p of candidates) {
      if (allowed !== undefined && !allowed.has(p.name)) continue;
      try {
        reg.add(p);
      } catch (err) {
        reg.log.error({ plugin: p.name, err: (err as Error).message }, `failed to load plugin [${p.name}]`);
      }
    }
    if (allowed !== undefined) {
      for (const name of allowed) if (!reg.byName.has(name)) reg.log.warn({ plugin: name }, `plugin [${name}] is in the whitelist but not installed`);
    }
    return reg;
  }

  /** Adds one plugin (also used by tests and, later, by the wasm host's adapter). */
  add(p: Plugin): void {
    checkShape(p);
    this.revision++;
    const schema = injectMeta(p.schema);
    this.byName.set(p.name, {
      plugin: p,
      schema,
      validate: compileSchema(schema),
      validateConsumer: p.consumerSchema !== undefined ? compileSchema(p.consumerSchema) : undefined,
      validateMetadata: p.metadataSchema !== undefined ? compileSchema(p.metadataSchema) : undefined,
      stageIndex: STAGES.indexOf(p.stage),
    });
  }

  /** Removes a plugin added with `add` (a wasm plugin disabled or deleted); snapshots built before keep it. */
  remove(name: string): boolean {
    this.revision++;
    return this.byName.delete(name);
  }

  get(name: string): LoadedPlugin | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Installed plugins in execution order: stage, then priority (larger first), then name. */
  list(): LoadedPlugin[] {
    return [...this.byName.values()].sort((a, b) =>
      a.stageIndex - b.stageIndex || b.plugin.priority - a.plugin.priority || (a.plugin.name < b.plugin.name ? -1 : 1));
  }

  /**
   * Validates one instance (filling schema defaults into it) and compiles its `_meta`.
   * Throws with APISIX's message shape: `failed to check the configuration of plugin <name> err: <why>`.
   */
  checkInstance(name: string, conf: unknown, schemaType: 'default' | 'consumer' = 'default', subsystem: 'http' | 'stream' = 'http'): void {
    const lp = this.byName.get(name);
    if (lp === undefined) throw new Error(`unknown plugin [${name}]`);
    if (typeof conf !== 'object' || conf === null || Array.isArray(conf)) {
      throw new Error(`failed to check the configuration of plugin ${name} err: wrong type: expected object`);
    }
    const consumerSide = schemaType === 'consumer' && lp.validateConsumer !== undefined;
    const validator = consumerSide ? lp.validateConsumer! : lp.validate;
    const err = checkSchema(validator, conf);
    if (err !== undefined) throw new Error(`failed to check the configuration of plugin ${name} err: ${err}`);
    if (consumerSide) return;
    const meta = (conf as { _meta?: MetaConf })._meta;
    try {
      compileMeta(meta);
    } catch (e) {
      throw new Error(`failed to check the configuration of plugin ${name} err: failed to validate the '_meta.filter' expression: ${(e as Error).message}`);
    }
    // A config `prepare` cannot compile is refused now, not discovered at request time.
    if (lp.plugin.prepare !== undefined) {
      try {
        lp.plugin.prepare(conf, { metadata: undefined, consumers: [], subsystem });
      } catch (e) {
        throw new Error(`failed to check the configuration of plugin ${name} err: ${(e as Error).message}`);
      }
    }
  }

  /** The `checkPlugins` hook of validateResource: every instance of an object. */
  readonly checkPlugins = (plugins: Record<string, unknown>, where: PluginCheckWhere): void => {
    for (const [name, conf] of Object.entries(plugins)) {
      const lp = this.byName.get(name);
      if (lp === undefined) throw new Error(`unknown plugin [${name}]`);
      if (where.kind === 'credentials' && lp.plugin.type !== 'auth') throw new Error('only supports auth type plugins in consumer credential');
      if (where.kind === 'stream_routes' && lp.plugin.stream === undefined) {
        throw new Error(`plugin ${name} is not a stream plugin: stream routes take ${this.streamPluginNames().join(', ')}`);
      }
      this.checkInstance(name, conf, where.schemaType, where.kind === 'stream_routes' ? 'stream' : 'http');
    }
  };

  /** Installed plugins that have stream phases, in execution order. */
  streamPluginNames(): string[] {
    return this.list().filter((lp) => lp.plugin.stream !== undefined).map((lp) => lp.plugin.name);
  }

  /** The `checkMetadata` hook: a plugin_metadata object against the plugin's metadata schema. */
  readonly checkMetadata = (name: string, value: Record<string, unknown>): void => {
    const lp = this.byName.get(name);
    if (lp === undefined) throw new Error('invalid plugin name');
    // APISIX's answer for a plugin that takes no metadata: nothing would read it
    if (lp.validateMetadata === undefined) throw new Error(`no metadata schema for plugin ${name}`);
    const { id: _id, ...fields } = value;
    void _id;
    const err = checkSchema(lp.validateMetadata, fields);
    if (err !== undefined) throw new Error(`invalid configuration: ${err}`);
    try {
      lp.plugin.checkMetadata?.(fields);
    } catch (e) {
      throw new Error(`invalid configuration: ${(e as Error).message}`);
    }
  };

  async destroyAll(): Promise<void> {
    for (const lp of this.byName.values()) {
      try {
        await lp.plugin.destroy?.();
      } catch (err) {
        this.log.error({ plugin: lp.plugin.name, err: (err as Error).message }, 'plugin destroy failed');
      }
    }
  }
}

export function resolveStage(s: string | undefined, fallback: Stage): Stage {
  return s === undefined ? fallback : STAGE_ALIASES[s] ?? fallback;
}
