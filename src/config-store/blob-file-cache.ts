// Custom plugins' binaries on a cluster node. etcd holds them (in chunks, see the etcd
// store); workers need them synchronously when they compile a plugin, and must not each
// fetch 50 MB from etcd. So the primary copies every binary an enabled plugin names into
// `<data_dir>/blobs/<sha256>` before it tells the workers about the plugin, and workers
// read that file. Both sides check the bytes against their sha256: a binary that does
// not match is never written, and a file changed on disk is never run.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobReader } from '../contracts/store.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class BlobFileCache {
  constructor(readonly dir: string) {}

  path(sha: string): string {
    if (!SHA256_HEX.test(sha)) throw new Error(`not a sha256: ${sha}`);
    return join(this.dir, sha);
  }

  has(sha: string): boolean {
    return SHA256_HEX.test(sha) && existsSync(this.path(sha));
  }

  /**
   * Copies the binary `fetch` returns into the cache unless it is there. Throws when it
   * cannot be fetched or its bytes do not hash to `sha`.
   */
  async ensure(sha: string, fetch: () => Promise<Uint8Array | undefined>): Promise<void> {
    if (this.has(sha)) return;
    const bytes = await fetch();
    if (bytes === undefined) throw new Error(`binary ${sha} is not in the store`);
    const actual = sha256(bytes);
    if (actual !== sha) throw new Error(`binary ${sha} fetched from the store hashes to ${actual}; not used`);
    mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.path(sha)}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes, { mode: 0o644 });
    renameSync(tmp, this.path(sha));
  }
}

/** A worker's reader of the primary's blob cache. */
export class FileBlobReader implements BlobReader {
  private readonly cache: BlobFileCache;

  constructor(dir: string, private readonly onMismatch: (sha: string) => void = () => undefined) {
    this.cache = new BlobFileCache(dir);
  }

  get(sha: string): Buffer | undefined {
    if (!this.cache.has(sha)) return undefined;
    const bytes = readFileSync(this.cache.path(sha));
    if (sha256(bytes) !== sha) {
      this.onMismatch(sha);
      return undefined;
    }
    return bytes;
  }

  close(): void {
    // nothing held open
  }
}
