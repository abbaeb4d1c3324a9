// The embedded store (store.type: sqlite): one SQLite file in WAL mode, written by the
// gateway's primary and, at the same time, by `gatehouse config import` or any other
// process that opens the same file. Every commit is fsynced (synchronous = FULL), so an
// acknowledged write survives a crash of the writer.
//
// Revisions: one global counter; every put or delete takes the next value, also inside
// `transaction()` and `replaceAll()` (a batch of n changes takes n consecutive revisions,
// committed together). One revision per change keeps the event stream strictly
// increasing, which is what ConfigState.applyEvent and the primary's broadcast rely on;
// a batch still becomes visible all at once because readers only see committed data.
//
// Watching: each change is also appended to a change log (trimmed to the newest
// `keepChanges` entries). Watchers read the log: at once after a write made through this
// instance, and on a timer for writes made by other connections or processes.
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { RESOURCE_KINDS, type ResourceKind } from '../contracts/resources.js';
import type { BlobStore, ConfigStore, PutOptions, StoreEvent, StoreState, StoredObject } from '../contracts/store.js';
import { GatehouseError } from '../core/errors.js';
import { logger } from '../core/logger.js';
import { SqliteFileGuard } from './sqlite-file-guard.js';

export interface SqliteStoreOptions {
  /** How often watchers look for writes made by other processes (default 250 ms). */
  pollIntervalMs?: number;
  /** Change-log entries kept for watchers that fall behind (default 10,000). */
  keepChanges?: number;
  /** How long a write waits for another writer's lock (default 5000 ms). */
  busyTimeoutMs?: number;
  /** How often the database file is checked for having been deleted or replaced (default 1000 ms). */
  fileCheckIntervalMs?: number;
}

/** An object as written: what `replaceAll` and `diffConfig` take. */
export interface ObjectInput {
  kind: ResourceKind;
  id: string;
  value: Record<string, unknown>;
}

export type TransactionOp =
  | { op: 'put'; kind: ResourceKind; id: string; value: Record<string, unknown>; expectedRevision?: number }
  | { op: 'delete'; kind: ResourceKind; id: string; expectedRevision?: number };

export interface ObjectKey { kind: ResourceKind; id: string }

export interface ConfigDiff { added: ObjectKey[]; changed: ObjectKey[]; removed: ObjectKey[] }

export interface ReplaceResult extends ConfigDiff {
  /** The store revision after the import (unchanged when nothing differed). */
  revision: number;
}

// 2 added the blobs table; a version-1 file is upgraded in place when opened.
const SCHEMA_VERSION = 2;
const READ_BATCH = 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE IF NOT EXISTS objects (
  kind TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL,
  created_index INTEGER NOT NULL, modified_index INTEGER NOT NULL,
  PRIMARY KEY (kind, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
  revision INTEGER PRIMARY KEY, kind TEXT NOT NULL, id TEXT NOT NULL,
  op TEXT NOT NULL CHECK (op IN ('put', 'delete')), value TEXT, created_index INTEGER);
CREATE TABLE IF NOT EXISTS blobs (
  sha256 TEXT PRIMARY KEY, data BLOB NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;
`;

interface ObjectRow { kind: ResourceKind; id: string; value: string; created_index: number; modified_index: number }
interface ChangeRow {
  revision: number; kind: ResourceKind; id: string; op: 'put' | 'delete'; value: string | null; created_index: number | null;
}
type Statements = ReturnType<typeof prepareStatements>;
type Watcher = { active: boolean; last: number; onEvent: (event: StoreEvent) => void };
type ChangeEvent = Exclude<StoreEvent, { type: 'reset' }>;
type ReadResult = { reset: StoreState } | { events: ChangeEvent[]; more: boolean };

export class SqliteStore implements ConfigStore, BlobStore {
  readonly type = 'sqlite' as const;
  readonly readOnly = false;
  /** The blob table of the same file (custom plugins' binaries). */
  readonly blobs: BlobStore = this;
  /** Absolute path of the database file. */
  readonly file: string;

  private readonly db: Database.Database;
  private readonly sql: Statements;
  private readonly watchers = new Set<Watcher>();
  private readonly pollMs: number;
  private readonly keepChanges: number;
  private poll: NodeJS.Timeout | undefined;
  private pumping = false;
  private pumpAgain = false;
  private closed = false;
  private readonly log = logger().child({ module: 'sqlite-store' });
  private readonly guard: SqliteFileGuard;

  constructor(file: string, opts: SqliteStoreOptions = {}) {
    this.file = path.resolve(file);
    this.pollMs = opts.pollIntervalMs ?? 250;
    this.keepChanges = Math.max(1, opts.keepChanges ?? 10_000);
    const created = !existsSync(this.file);
    try {
      mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      this.db = new Database(this.file, { timeout: opts.busyTimeoutMs ?? 5000 });
    } catch (e) {
      throw openError(this.file, e);
    }
    try {
      // The file holds consumer credentials and TLS keys; SQLite gives -wal/-shm the same mode.
      if (created) chmodSync(this.file, 0o600);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new Error(`it was written by a newer gatehouse (schema ${version}, this build reads ${SCHEMA_VERSION})`);
      }
      // only a new (or older-schema) file is written to here: opening a current store (export, diff) writes nothing
      if (version < SCHEMA_VERSION) {
        this.db.transaction(() => {
          this.db.exec(SCHEMA);
          this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
        }).immediate();
      }
    } catch (e) {
      this.db.close();
      throw openError(this.file, e);
    }
    this.sql = prepareStatements(this.db);
    this.guard = new SqliteFileGuard(this.file, (message) => this.log.error({ file: this.file }, message));
    this.guard.start(opts.fileCheckIntervalMs ?? 1000);
  }

  problem(): string | undefined {
    return this.closed ? undefined : this.guard.check();
  }

  /** The newest committed revision (any writer's). */
  get revision(): number {
    return this.sql.revision.get() ?? 0;
  }

  async load(): Promise<StoreState> {
    return this.db.transaction(() => this.readState())();
  }

  async get(kind: ResourceKind, id: string): Promise<StoredObject | undefined> {
    const row = this.sql.get.get(kind, id);
    return row === undefined ? undefined : toObject(row);
  }

  async list(kind: ResourceKind): Promise<StoredObject[]> {
    return this.sql.list.all(kind).map(toObject);
  }

  async put(kind: ResourceKind, id: string, value: Record<string, unknown>, opts: PutOptions = {}): Promise<StoredObject> {
    const text = encode(kind, id, value);
    const object = this.write(() => this.writePut(kind, id, text, opts.expectedRevision));
    return { ...object, value: JSON.parse(text) as Record<string, unknown> };
  }

  async delete(kind: ResourceKind, id: string, opts: PutOptions = {}): Promise<boolean> {
    checkKey(kind, id);
    return this.write(() => this.writeDelete(kind, id, opts.expectedRevision) !== undefined);
  }

  async putBlob(bytes: Uint8Array): Promise<string> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    this.write(() => {
      this.sql.putBlob.run(sha256, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.byteLength, Math.floor(Date.now() / 1000));
    }, false);
    return sha256;
  }

  async getBlob(sha256: string): Promise<Buffer | undefined> {
    return this.sql.getBlob.get(sha256);
  }

  async keepOnly(referenced: ReadonlySet<string>): Promise<string[]> {
    return this.write(() => {
      const gone = this.sql.blobKeys.all().filter((k) => !referenced.has(k));
      for (const k of gone) this.sql.deleteBlob.run(k);
      return gone;
    }, false);
  }

  /**
   * Applies every op or none. Each op takes its own revision (consecutive, committed
   * together); returns the revision after the batch. An op's `expectedRevision` is a
   * compare-and-swap as in put/delete (it sees earlier ops of the same batch); deleting
   * an absent object fails the batch with GH_ERR_STORE_NOT_FOUND.
   */
  async transaction(ops: TransactionOp[]): Promise<number> {
    // every op is checked before the transaction starts
    const texts = ops.map((o) => {
      if (o.op === 'put') return encode(o.kind, o.id, o.value);
      checkKey(o.kind, o.id);
      return '';
    });
    if (ops.length === 0) return this.revision;
    return this.write(() => {
      let revision = 0;
      ops.forEach((o, i) => {
        if (o.op === 'put') {
          revision = this.writePut(o.kind, o.id, texts[i]!, o.expectedRevision).modifiedIndex;
          return;
        }
        const r = this.writeDelete(o.kind, o.id, o.expectedRevision);
        if (r === undefined) throw new GatehouseError('GH_ERR_STORE_NOT_FOUND', `${o.kind} "${o.id}" does not exist`);
        revision = r;
      });
      return revision;
    });
  }

  /**
   * Makes the store hold exactly `objects` (config import), in one transaction: new and
   * changed objects are written (changed = different JSON, key order aside), missing
   * ones deleted, identical ones left alone with their indexes.
   */
  async replaceAll(objects: ObjectInput[]): Promise<ReplaceResult> {
    const texts = new Map<string, string>();
    for (const o of objects) {
      const k = keyOf(o);
      if (texts.has(k)) throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${o.kind} "${o.id}" appears twice`);
      texts.set(k, encode(o.kind, o.id, o.value));
    }
    return this.write(() => {
      const diff = diffConfig(this.sql.all.all().map(toObject), objects);
      for (const k of [...diff.added, ...diff.changed]) this.writePut(k.kind, k.id, texts.get(keyOf(k))!, undefined);
      for (const k of diff.removed) this.writeDelete(k.kind, k.id, undefined);
      return { ...diff, revision: this.sql.revision.get() ?? 0 };
    });
  }

  /**
   * Calls `onEvent` for every change after `fromRevision`, in order: the backlog first
   * (asynchronously), then each write as it commits. A watcher behind the oldest kept
   * change gets one `reset` with the whole state instead.
   */
  watch(fromRevision: number, onEvent: (event: StoreEvent) => void): () => void {
    const w: Watcher = { active: true, last: fromRevision, onEvent };
    this.watchers.add(w);
    queueMicrotask(() => this.pump());
    if (this.poll === undefined && !this.closed) {
      this.poll = setInterval(() => this.pump(), this.pollMs);
      this.poll.unref();
    }
    return () => {
      w.active = false;
      this.watchers.delete(w);
      if (this.watchers.size === 0 && this.poll !== undefined) {
        clearInterval(this.poll);
        this.poll = undefined;
      }
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.guard.stop();
    if (this.poll !== undefined) clearInterval(this.poll);
    this.poll = undefined;
    for (const w of this.watchers) w.active = false;
    this.watchers.clear();
    this.db.close();
  }

  /** Runs `fn` in an IMMEDIATE transaction (the write lock up front, so concurrent writers queue instead of failing), then tells the watchers. */
  private write<T>(fn: () => T, notify = true): T {
    if (this.closed) throw new Error(`the sqlite store ${this.file} is closed`);
    const problem = this.guard.check();
    if (problem !== undefined) throw new GatehouseError('GH_ERR_STORE_UNAVAILABLE', problem);
    const result = this.db.transaction(() => {
      const out = fn();
      const revision = this.sql.revision.get() ?? 0;
      if (revision > this.keepChanges) this.sql.trim.run(revision - this.keepChanges);
      return out;
    }).immediate();
    if (notify) this.pump();
    return result;
  }

  private writePut(kind: ResourceKind, id: string, text: string, expected: number | undefined): StoredObject {
    const row = this.sql.get.get(kind, id);
    if (expected !== undefined && (row?.modified_index ?? 0) !== expected) throw conflict(kind, id, expected, row);
    const revision = this.sql.bump.get()!;
    const created = row?.created_index ?? revision;
    this.sql.upsert.run(kind, id, text, created, revision);
    this.sql.logChange.run(revision, kind, id, 'put', text, created);
    return { kind, id, value: {}, createdIndex: created, modifiedIndex: revision };
  }

  /** Returns the delete's revision, or undefined when the object was absent. */
  private writeDelete(kind: ResourceKind, id: string, expected: number | undefined): number | undefined {
    const row = this.sql.get.get(kind, id);
    if (expected !== undefined && (row?.modified_index ?? 0) !== expected) throw conflict(kind, id, expected, row);
    if (row === undefined) return undefined;
    const revision = this.sql.bump.get()!;
    this.sql.remove.run(kind, id);
    this.sql.logChange.run(revision, kind, id, 'delete', null, null);
    return revision;
  }

  private readState(): StoreState {
    return { revision: this.sql.revision.get() ?? 0, objects: this.sql.all.all().map(toObject) };
  }

  /** Delivers what each watcher has not seen yet. Re-entrant calls (a watcher that writes) loop instead of nesting. */
  private pump(): void {
    if (this.closed || this.watchers.size === 0) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        for (const w of [...this.watchers]) this.catchUp(w);
      } while (this.pumpAgain && !this.closed);
    } catch (e) {
      // the write that triggered this pump is committed; the next poll retries the delivery
      this.log.error({ file: this.file, err: (e as Error).message }, 'reading the sqlite change log failed');
    } finally {
      this.pumping = false;
    }
  }

  private catchUp(w: Watcher): void {
    while (w.active && !this.closed) {
      // one read transaction: the revision, the log bounds and the rows form one snapshot
      const read = this.db.transaction((): ReadResult => this.readAfter(w.last))();
      if ('reset' in read) {
        w.last = read.reset.revision;
        this.deliver(w, { type: 'reset', state: read.reset });
        return;
      }
      for (const ev of read.events) {
        if (!w.active) return;
        w.last = ev.revision;
        this.deliver(w, ev);
      }
      if (!read.more) return;
    }
  }

  private readAfter(last: number): ReadResult {
    const current = this.sql.revision.get() ?? 0;
    if (current === last) return { events: [], more: false };
    const oldest = this.sql.oldestChange.get() ?? null;
    // Behind the trimmed log, or ahead of the file (it was replaced by an older copy).
    if (current < last || oldest === null || oldest > last + 1) return { reset: this.readState() };
    const rows = this.sql.changesAfter.all(last, READ_BATCH);
    return { events: rows.map(toEvent), more: rows.length === READ_BATCH };
  }

  private deliver(w: Watcher, event: StoreEvent): void {
    try {
      w.onEvent(event);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'store watcher failed');
    }
  }
}

/** What an import of `next` over `current` would add, change and remove (kind, id). */
export function diffConfig(current: readonly ObjectInput[], next: readonly ObjectInput[]): ConfigDiff {
  const before = new Map(current.map((o) => [keyOf(o), o]));
  const diff: ConfigDiff = { added: [], changed: [], removed: [] };
  const seen = new Set<string>();
  for (const o of next) {
    const k = keyOf(o);
    seen.add(k);
    const old = before.get(k);
    if (old === undefined) diff.added.push({ kind: o.kind, id: o.id });
    else if (canonicalJson(old.value) !== canonicalJson(o.value)) diff.changed.push({ kind: o.kind, id: o.id });
  }
  for (const o of current) if (!seen.has(keyOf(o))) diff.removed.push({ kind: o.kind, id: o.id });
  return diff;
}

/** JSON with object keys sorted, so two values that differ only in key order compare equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}

function keyOf(o: ObjectKey): string {
  return `${o.kind}\u0000${o.id}`;
}

function checkKey(kind: ResourceKind, id: string): void {
  if (!RESOURCE_KINDS.includes(kind)) throw new GatehouseError('GH_ERR_CONFIG_INVALID', `unknown resource kind "${String(kind)}"`);
  if (typeof id !== 'string' || id === '') throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${kind}: the id must be a non-empty string`);
}

function encode(kind: ResourceKind, id: string, value: Record<string, unknown>): string {
  checkKey(kind, id);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${kind} "${id}": the value must be an object`);
  }
  return JSON.stringify(value);
}

function prepareStatements(db: Database.Database) {
  return {
    revision: db.prepare<[], number>("SELECT value FROM meta WHERE key = 'revision'").pluck(),
    bump: db.prepare<[], number>("UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value").pluck(),
    get: db.prepare<[string, string], ObjectRow>('SELECT * FROM objects WHERE kind = ? AND id = ?'),
    list: db.prepare<[string], ObjectRow>('SELECT * FROM objects WHERE kind = ? ORDER BY created_index, id'),
    all: db.prepare<[], ObjectRow>('SELECT * FROM objects ORDER BY created_index, kind, id'),
    upsert: db.prepare<[string, string, string, number, number]>(
      'INSERT OR REPLACE INTO objects (kind, id, value, created_index, modified_index) VALUES (?, ?, ?, ?, ?)'),
    remove: db.prepare<[string, string]>('DELETE FROM objects WHERE kind = ? AND id = ?'),
    logChange: db.prepare<[number, string, string, string, string | null, number | null]>(
      'INSERT INTO changes (revision, kind, id, op, value, created_index) VALUES (?, ?, ?, ?, ?, ?)'),
    oldestChange: db.prepare<[], number | null>('SELECT MIN(revision) FROM changes').pluck(),
    changesAfter: db.prepare<[number, number], ChangeRow>(
      'SELECT * FROM changes WHERE revision > ? ORDER BY revision LIMIT ?'),
    trim: db.prepare<[number]>('DELETE FROM changes WHERE revision <= ?'),
    putBlob: db.prepare<[string, Buffer, number, number]>(
      'INSERT OR IGNORE INTO blobs (sha256, data, size, created) VALUES (?, ?, ?, ?)'),
    getBlob: db.prepare<[string], Buffer>('SELECT data FROM blobs WHERE sha256 = ?').pluck(),
    blobKeys: db.prepare<[], string>('SELECT sha256 FROM blobs').pluck(),
    deleteBlob: db.prepare<[string]>('DELETE FROM blobs WHERE sha256 = ?'),
  };
}

function toObject(row: ObjectRow): StoredObject {
  return {
    kind: row.kind, id: row.id, value: JSON.parse(row.value) as Record<string, unknown>,
    createdIndex: row.created_index, modifiedIndex: row.modified_index,
  };
}

function toEvent(row: ChangeRow): ChangeEvent {
  if (row.op === 'delete') return { type: 'delete', kind: row.kind, id: row.id, revision: row.revision };
  return {
    type: 'put', revision: row.revision,
    object: {
      kind: row.kind, id: row.id, value: JSON.parse(row.value ?? '{}') as Record<string, unknown>,
      createdIndex: row.created_index ?? row.revision, modifiedIndex: row.revision,
    },
  };
}

function conflict(kind: ResourceKind, id: string, expected: number, row: ObjectRow | undefined): GatehouseError {
  const actual = row === undefined ? 'it does not exist' : `its modifiedIndex is ${row.modified_index}`;
  return new GatehouseError('GH_ERR_STORE_CONFLICT',
    `${kind} "${id}" changed: expected modifiedIndex ${expected}${expected === 0 ? ' (must not exist)' : ''}, but ${actual}`);
}

function openError(file: string, e: unknown): GatehouseError {
  return new GatehouseError('GH_ERR_CONFIG_INVALID', `cannot open the sqlite store ${file}: ${(e as Error).message}`, { cause: e });
}
