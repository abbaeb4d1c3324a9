import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { CustomPlugin } from '../contracts/custom-plugins.js';
import type { NodeConfig } from '../contracts/node-config.js';
import { resolveStage, type PluginRegistry } from '../plugin-runtime/registry.js';
import type { Plugin } from '../contracts/plugin.js';
import type { StoredObject } from '../contracts/store.js';
import { compileModule, prepareModule } from './module-check.js';
import type { VmServices } from './services.js';
import { wasmPlugin, type FailStrategy, type WasmPluginSpec } from './wasm-plugin.js';

/** One wasm plugin this process should have, wherever it was declared. */
export interface WasmPluginSource {
  readonly name: string;
  readonly version: string;
  readonly stage: string;
  readonly priority: number;
  readonly rootId: string;
  readonly failStrategy: FailStrategy;
  readonly requestPhase: 'rewrite' | 'access';
  readonly description?: string;
  /** Where it was declared: the node config's `wasm.plugins` or the store's `custom_plugins`. */
  readonly origin: 'config' | 'store';
  readonly sha256: string;
  /**
   * False for a marketplace plugin switched off: it stays known (routes already bound to it
   * keep validating and being served) but runs nothing, and new bindings are refused.
   */
  readonly enabled: boolean;
  /** The binary (read only where VMs run). */
  readonly bytes: () => Uint8Array | undefined;
}

export interface WasmPluginSetOptions {
  /** Workers run VMs; the primary only validates configs (no module compiled there). */
  readonly runsVms: boolean;
  readonly callTimeoutMs: number;
  readonly memoryLimitBytes: number;
  readonly services: VmServices;
  readonly log: Logger;
}

/**
 * Keeps the wasm plugins of a plugin registry in line with their declarations (node
 * config `wasm.plugins`, the store's enabled `custom_plugins`): adds new ones, replaces
 * one whose binary or settings changed, removes those gone or disabled. Modules are
 * compiled once per sha256. Requests in flight keep the plugin objects of their snapshot.
 */
export class WasmPluginSet {
  private registry: PluginRegistry | undefined;
  private readonly installed = new Map<string, { fingerprint: string; origin: 'config' | 'store'; destroy: () => void }>();
  private readonly modules = new Map<string, WebAssembly.Module>();

  constructor(private readonly opts: WasmPluginSetOptions) {}

  /** Returns true when the registry changed (the caller rebuilds its snapshot). */
  async sync(registry: PluginRegistry, sources: readonly WasmPluginSource[]): Promise<boolean> {
    let changed = false;
    if (this.registry !== registry) {
      // a new registry (plugins reloaded): every wasm plugin goes into it anew
      this.installed.clear();
      this.registry = registry;
      changed = true;
    }
    const wanted = new Map(sources.map((s) => [s.name, s]));
    for (const [name, inst] of this.installed) {
      if (wanted.has(name)) continue;
      registry.remove(name);
      this.installed.delete(name);
      setTimeout(inst.destroy, 5000).unref();
      changed = true;
    }
    for (const src of sources) {
      const fingerprint = JSON.stringify([src.sha256, src.version, src.stage, src.priority, src.rootId, src.failStrategy, src.requestPhase, src.description, src.enabled]);
      if (this.installed.get(src.name)?.fingerprint === fingerprint) continue;
      if (registry.has(src.name) && !this.installed.has(src.name)) {
        this.opts.log.error({ plugin: src.name }, `wasm plugin ${src.name} not loaded: a built-in or custom plugin has that name`);
        continue;
      }
      let module: WebAssembly.Module | undefined;
      try {
        module = this.opts.runsVms && src.enabled ? await this.compile(src) : undefined;
      } catch (err) {
        this.opts.log.error({ plugin: src.name, sha256: src.sha256, err: (err as Error).message }, `wasm plugin ${src.name} not loaded`);
        continue;
      }
      const spec: WasmPluginSpec = {
        name: src.name, version: src.version, stage: resolveStage(src.stage, 'default'), priority: src.priority,
        description: src.description, module, rootId: src.rootId, failStrategy: src.failStrategy, requestPhase: src.requestPhase,
        callTimeoutMs: this.opts.callTimeoutMs, memoryLimitBytes: this.opts.memoryLimitBytes,
        services: this.opts.services, log: this.opts.log,
      };
      const plugin = src.enabled ? wasmPlugin(spec) : inertPlugin(wasmPlugin(spec));
      const previous = this.installed.get(src.name);
      registry.remove(src.name);
      registry.add(plugin);
      this.installed.set(src.name, { fingerprint, origin: src.origin, destroy: () => plugin.destroy?.() });
      if (previous !== undefined) setTimeout(previous.destroy, 5000).unref();
      changed = true;
    }
    return changed;
  }

  /** Where an installed wasm plugin was declared (undefined: not a wasm plugin of this set). */
  origin(name: string): 'config' | 'store' | undefined {
    return this.installed.get(name)?.origin;
  }

  private async compile(src: WasmPluginSource): Promise<WebAssembly.Module> {
    const cached = this.modules.get(src.sha256);
    if (cached !== undefined) return cached;
    const bytes = src.bytes();
    if (bytes === undefined) throw new Error(`its binary (sha256 ${src.sha256}) is not in the store`);
    const module = await compileModule(prepareModule(bytes, this.opts.memoryLimitBytes));
    this.modules.set(src.sha256, module);
    return module;
  }
}

const fileCache = new Map<string, { mtimeMs: number; size: number; bytes: Buffer; sha256: string }>();

function readWasmFile(file: string): { bytes: Buffer; sha256: string } {
  const st = statSync(file);
  const hit = fileCache.get(file);
  if (hit !== undefined && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit;
  const bytes = readFileSync(file);
  const entry = { mtimeMs: st.mtimeMs, size: st.size, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  fileCache.set(file, entry);
  return entry;
}

/** The node config's `wasm.plugins` (a file each, read when it changed). A missing file is logged and skipped. */
export function configSources(config: NodeConfig, log: Logger): WasmPluginSource[] {
  const out: WasmPluginSource[] = [];
  for (const p of config.wasm.plugins) {
    let file: { bytes: Buffer; sha256: string };
    try {
      file = readWasmFile(p.file);
    } catch (err) {
      log.error({ plugin: p.name, file: p.file, err: (err as Error).message }, `wasm plugin ${p.name} not loaded: cannot read its file`);
      continue;
    }
    out.push({
      name: p.name, version: file.sha256.slice(0, 12), stage: p.stage, priority: p.priority, rootId: p.root_id ?? p.name,
      failStrategy: p.fail_strategy, requestPhase: p.http_request_phase, sha256: file.sha256, enabled: true, origin: 'config', bytes: () => file.bytes,
    });
  }
  return out;
}

/** The store's custom plugins at their current version (disabled ones inert); `blob` fetches a binary by sha256. */
export function storeSources(objects: Iterable<StoredObject>, blob: (sha256: string) => Uint8Array | undefined): WasmPluginSource[] {
  const out: WasmPluginSource[] = [];
  for (const o of objects) {
    const p = o.value as unknown as CustomPlugin;
    const v = p.versions?.find((x) => x.version === p.version);
    if (v === undefined) continue;
    out.push({
      name: o.id, version: p.version, stage: p.stage, priority: p.priority, rootId: p.root_id ?? o.id,
      failStrategy: p.fail_strategy ?? 'FAIL_CLOSE', requestPhase: 'rewrite', description: p.description,
      sha256: v.sha256, enabled: p.enabled === true, origin: 'store', bytes: () => blob(v.sha256),
    });
  }
  return out;
}

/** A disabled plugin: known by name, stage and schema, with no handler (it runs nothing). */
function inertPlugin(p: Plugin): Plugin {
  return { name: p.name, version: p.version, stage: p.stage, priority: p.priority, schema: p.schema, prepare: p.prepare };
}
