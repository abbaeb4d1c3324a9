// A worker's own read-only connection to the sqlite store's blobs: the primary sends
// workers objects, not binaries, so a worker that needs a custom plugin's .wasm reads it
// from the same file by its sha256. Reads are synchronous (better-sqlite3) and see what
// the primary has committed (WAL readers never block the writer).
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { FileBlobReader } from './blob-file-cache.js';
import type { NodeConfig } from '../contracts/node-config.js';
import type { BlobReader } from '../contracts/store.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;

class SqliteBlobReader implements BlobReader {
  private readonly db: Database.Database;
  private statement: Database.Statement<[string], Buffer> | undefined;

  constructor(file: string) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
  }

  get(sha256: string): Buffer | undefined {
    if (!SHA256_HEX.test(sha256)) return undefined;
    // Prepared on first use: a file written by an older build has no blobs table until the primary upgrades it.
    if (this.statement === undefined) {
      const exists = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'blobs'").pluck().get();
      if (exists === undefined) return undefined;
      this.statement = this.db.prepare<[string], Buffer>('SELECT data FROM blobs WHERE sha256 = ?').pluck();
    }
    return this.statement.get(sha256);
  }

  close(): void {
    this.db.close();
  }
}

/**
 * A reader of the store's blobs: the sqlite file itself, or for etcd the copies the
 * primary keeps in `<data_dir>/blobs` (src/config-store/blob-file-cache.ts); undefined for the
 * standalone store, which keeps none.
 */
export function openBlobReader(config: Pick<NodeConfig, 'store' | 'data_dir'>, log?: Logger): BlobReader | undefined {
  if (config.store.type === 'etcd') {
    return new FileBlobReader(blobCacheDir(config), (sha) => log?.error({ sha256: sha }, 'a cached plugin binary does not match its sha256; not run'));
  }
  if (config.store.type !== 'sqlite') return undefined;
  return new SqliteBlobReader(config.store.sqlite.path);
}

/** Where a cluster node keeps its copies of the store's binaries. */
export function blobCacheDir(config: Pick<NodeConfig, 'data_dir'>): string {
  return join(config.data_dir, 'blobs');
}
