// Plain integer values under a key, with no window and no expiry: ai-quota's quotas when
// the node keeps them (no `redis`). They live where the node's counters live (the
// primary's CounterTable, reached by the workers over IPC, wire.ts OP_GET/OP_SET/OP_ADD).
//
// A quota is money, so the primary's book is a SQLite file in data_dir (VALUE_FILE), next
// to the embedded config store, and survives a restart. Every change is written through
// before the worker hears it is done: one UPSERT in WAL mode with synchronous = NORMAL —
// a commit is in the operating system's hands when it returns, so a crash or restart of
// the gateway loses nothing; only a crash of the machine itself may lose the last commits
// before the next WAL sync (about a checkpoint's worth), traded for not fsyncing on every
// answer charged. The file is opened by the first operation, so a node that never keeps
// a quota never creates it.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';

/** The file under data_dir holding the node's quotas. */
export const VALUE_FILE = 'ai-quota.db';

export interface ValueBook {
  /** The value under `key`; 0 when there is none. */
  get(key: string): number;
  set(key: string, value: number): void;
  /** Adds `by` (negative: subtracts) to the value under `key` (0 when none) and returns the sum. */
  add(key: string, by: number): number;
}

/** The node's values as a plugin reaches them: the primary's over IPC, or the process's own. */
export interface ValueStore {
  getValue(key: string): Promise<number>;
  setValue(key: string, value: number): Promise<void>;
  addValue(key: string, by: number): Promise<number>;
}

/** A book in memory (a process without a primary: unit tests). */
export class MemoryValueBook implements ValueBook {
  private readonly values = new Map<string, number>();
  get(key: string): number {
    return this.values.get(key) ?? 0;
  }
  set(key: string, value: number): void {
    this.values.set(key, value);
  }
  add(key: string, by: number): number {
    const sum = this.get(key) + by;
    this.values.set(key, sum);
    return sum;
  }
}

const SCHEMA = 'CREATE TABLE IF NOT EXISTS quota_values (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID';

/** The book in `<dataDir>/ai-quota.db`, written through. */
export class SqliteValueBook implements ValueBook {
  private statements: ReturnType<SqliteValueBook['open']> | undefined;

  constructor(readonly file: string) {}

  static inDataDir(dataDir: string): SqliteValueBook {
    return new SqliteValueBook(join(dataDir, VALUE_FILE));
  }

  private open() {
    mkdirSync(dirname(this.file), { recursive: true });
    const db = new Database(this.file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(SCHEMA);
    return {
      db,
      get: db.prepare<[string], { value: number }>('SELECT value FROM quota_values WHERE key = ?'),
      set: db.prepare<[string, number]>('INSERT INTO quota_values (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      add: db.prepare<[string, number], { value: number }>(
        'INSERT INTO quota_values (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value RETURNING value'),
    };
  }

  private get book() {
    return this.statements ??= this.open();
  }

  get(key: string): number {
    return this.book.get.get(key)?.value ?? 0;
  }

  set(key: string, value: number): void {
    this.book.set.run(key, value);
  }

  add(key: string, by: number): number {
    return this.book.add.get(key, by)!.value;
  }

  close(): void {
    this.statements?.db.close();
    this.statements = undefined;
  }
}
