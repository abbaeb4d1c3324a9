// The standalone store: the whole configuration is one declarative file (APISIX
// standalone format, YAML or JSON by extension), watched and reloaded atomically.
// Everything in the file is validated before any of it is applied; a bad file is
// reported (log + lastError + onError) and the last good configuration keeps serving.
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ResourceKind } from '../contracts/resources.js';
import type { ConfigStore, StoreEvent, StoreState, StoredObject } from '../contracts/store.js';
import { GatehouseError } from '../core/errors.js';
import { logger } from '../core/logger.js';
import { ConfigState } from './state.js';
import { parseStandaloneConfig, type StandaloneObject } from './standalone-parse.js';
import type { ValidateOptions } from './validate.js';

export { parseStandaloneConfig, STANDALONE_KEYS, type StandaloneObject } from './standalone-parse.js';

export interface StandaloneStoreOptions extends ValidateOptions {
  /** mtime poll period, the fallback when fs.watch misses an event (default 1000 ms). */
  pollIntervalMs?: number;
  /** Quiet time after a change before reading the file (default 50 ms). */
  debounceMs?: number;
  /** Environment for `${{VAR}}` substitution (default process.env). */
  env?: NodeJS.ProcessEnv;
}

type Watcher = { active: boolean; onEvent: (event: StoreEvent) => void };

export class StandaloneStore implements ConfigStore {
  readonly type = 'standalone' as const;
  readonly readOnly = true;
  /** Absolute path of the watched file. */
  readonly file: string;
  /** Why the newest version of the file was refused; undefined once a good version is applied. */
  lastError: GatehouseError | undefined;

  private state: ConfigState | undefined;
  private lastText: string | undefined;
  private lastSig = '';
  private readonly watchers = new Set<Watcher>();
  private readonly errorListeners = new Set<(err: GatehouseError) => void>();
  private fsWatcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private reloadQueued = false;
  private closed = false;
  private readonly log = logger().child({ module: 'standalone-store' });

  constructor(file: string, private readonly opts: StandaloneStoreOptions = {}) {
    this.file = path.resolve(file);
  }

  /** The revision of the configuration being served (0 before the first good load). */
  get revision(): number {
    return this.state?.revision ?? 0;
  }

  /** Re-reads the file. Throws GH_ERR_CONFIG_INVALID (naming object and field) when it is invalid. */
  async load(): Promise<StoreState> {
    return this.serial(async () => {
      await this.refresh(true);
      return this.state!.toStoreState();
    });
  }

  async get(kind: ResourceKind, id: string): Promise<StoredObject | undefined> {
    return (await this.current()).get(kind, id);
  }

  async list(kind: ResourceKind): Promise<StoredObject[]> {
    return (await this.current()).list(kind);
  }

  async put(kind: ResourceKind): Promise<StoredObject> {
    throw this.readOnlyError(kind);
  }

  async delete(kind: ResourceKind): Promise<boolean> {
    throw this.readOnlyError(kind);
  }

  /**
   * Changes arrive as `reset` events (the file is one unit). A watcher starting from an
   * older revision than the one served first gets the current state as a reset.
   */
  watch(fromRevision: number, onEvent: (event: StoreEvent) => void): () => void {
    const w: Watcher = { active: true, onEvent };
    this.watchers.add(w);
    if (this.state !== undefined && this.state.revision > fromRevision) this.deliver(w, this.resetEvent());
    if (this.state === undefined) void this.serial(() => this.refresh(false)).catch(() => undefined);
    this.startWatching();
    return () => {
      w.active = false;
      this.watchers.delete(w);
    };
  }

  /** Called with every refused version of the file (also logged at error level). Returns an unsubscribe function. */
  onError(cb: (err: GatehouseError) => void): () => void {
    this.errorListeners.add(cb);
    this.startWatching();
    return () => { this.errorListeners.delete(cb); };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.fsWatcher?.close();
    this.fsWatcher = undefined;
    if (this.poll !== undefined) clearInterval(this.poll);
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    for (const w of this.watchers) w.active = false;
    this.watchers.clear();
    this.errorListeners.clear();
    await this.queue.catch(() => undefined);
  }

  private readOnlyError(kind: ResourceKind): GatehouseError {
    return new GatehouseError('GH_ERR_STORE_READ_ONLY',
      `the store is read-only: ${kind} come from ${this.file} (store.type standalone); edit the file instead`);
  }

  private async current(): Promise<ConfigState> {
    if (this.state === undefined) await this.load();
    return this.state!;
  }

  /** Runs refreshes one at a time, so a watcher reload and an explicit load() never interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /**
   * Reads, validates and applies the file. `explicit` (load()) re-checks even unchanged
   * text that failed before, and throws; the watcher path skips text it already judged
   * and only reports.
   */
  private async refresh(explicit: boolean): Promise<void> {
    if (this.closed && !explicit) return;
    let text: string;
    try {
      const sig = await this.signature();
      this.lastSig = sig;
      text = await readFile(this.file, 'utf8');
      if (!explicit && (await this.signature()) !== sig) {
        // still being written: judge the file once the writer is done
        this.schedule();
        return;
      }
    } catch (e) {
      const err = new GatehouseError('GH_ERR_CONFIG_INVALID', `cannot read ${this.file}: ${(e as Error).message}`, { cause: e });
      this.lastText = undefined;
      this.report(err);
      if (explicit) throw err;
      return;
    }
    if (text === this.lastText) {
      if (!explicit) return; // already judged: applied, or reported once
      if (this.state !== undefined && this.lastError === undefined) return; // unchanged and good
    }
    this.lastText = text;

    let objects: StandaloneObject[];
    try {
      objects = parseStandaloneConfig(text, { ...this.opts, format: formatOf(this.file) });
    } catch (e) {
      const err = e instanceof GatehouseError ? e
        : new GatehouseError('GH_ERR_CONFIG_INVALID', (e as Error).message, { cause: e });
      this.report(err);
      if (explicit) throw err;
      return;
    }
    if (this.lastError !== undefined && this.state !== undefined) {
      this.log.info({ file: this.file }, `config file ${this.file} is valid again`);
    }
    this.lastError = undefined;
    this.apply(objects);
  }

  /** Swaps in the new objects; unchanged objects keep their indexes, changed ones get the new revision. */
  private apply(objects: StandaloneObject[]): void {
    const prev = this.state;
    const revision = (prev?.revision ?? 0) + 1;
    const next = new ConfigState();
    let changed = prev === undefined || prev.size() !== objects.length;
    for (const o of objects) {
      const old = prev?.get(o.kind, o.id);
      const same = old !== undefined && JSON.stringify(old.value) === JSON.stringify(o.value);
      if (!same) changed = true;
      next.set(same ? old : {
        kind: o.kind, id: o.id, value: o.value,
        createdIndex: old?.createdIndex ?? revision, modifiedIndex: revision,
      });
    }
    if (!changed) return;
    next.revision = revision;
    this.state = next;
    this.log.info({ file: this.file, revision, objects: objects.length },
      `config file ${this.file} ${prev === undefined ? 'loaded' : 'reloaded'}`);
    const event = this.resetEvent();
    for (const w of this.watchers) this.deliver(w, event);
  }

  private resetEvent(): StoreEvent {
    return { type: 'reset', state: this.state!.toStoreState() };
  }

  // Delivered asynchronously so a watcher never runs inside load() or watch() itself.
  private deliver(w: Watcher, event: StoreEvent): void {
    queueMicrotask(() => {
      if (!w.active) return;
      try {
        w.onEvent(event);
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'store watcher failed');
      }
    });
  }

  private report(err: GatehouseError): void {
    this.lastError = err;
    this.log.error({ file: this.file }, err.message);
    for (const cb of this.errorListeners) {
      try { cb(err); } catch { /* a listener's failure must not stop the others */ }
    }
  }

  private startWatching(): void {
    if (this.closed || this.poll !== undefined) return;
    const dir = path.dirname(this.file);
    const base = path.basename(this.file);
    try {
      // The folder, not the file: editors and `mv` replace the file (new inode), which
      // ends a watch on the file itself.
      this.fsWatcher = fsWatch(dir, { persistent: false }, (_ev, name) => {
        if (name === null || name === base) this.schedule();
      });
      this.fsWatcher.on('error', () => {
        this.fsWatcher?.close();
        this.fsWatcher = undefined; // the poll below still sees changes
      });
    } catch {
      this.fsWatcher = undefined;
    }
    this.poll = setInterval(() => void this.checkSignature(), this.opts.pollIntervalMs ?? 1000);
    this.poll.unref();
  }

  private async checkSignature(): Promise<void> {
    if (this.closed) return;
    if ((await this.signature()) !== this.lastSig) this.schedule();
  }

  private async signature(): Promise<string> {
    try {
      const s = await stat(this.file);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      if (this.reloadQueued) return; // one queued reload reads the newest text anyway
      this.reloadQueued = true;
      void this.serial(async () => {
        this.reloadQueued = false;
        await this.refresh(false);
      }).catch(() => undefined);
    }, this.opts.debounceMs ?? 50);
    this.debounce.unref();
  }
}

function formatOf(file: string): 'json' | 'yaml' {
  return path.extname(file).toLowerCase() === '.json' ? 'json' : 'yaml';
}
