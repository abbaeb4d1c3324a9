// Custom plugins' binaries in etcd. An etcd value is limited to 1.5 MiB (its default
// --max-request-bytes) and a .wasm may be 50 MB, so a blob is stored as 1 MiB chunks:
//   <prefix>/gatehouse/blobs/<sha256>/manifest   {size, chunk_size, chunks, created_at, complete}
//   <prefix>/gatehouse/blobs/<sha256>/<n>        chunk n (0-based), the raw bytes
// The manifest is written first (complete: false), then the chunks, then the manifest
// again with complete: true; readers take only complete blobs and check the sha256 of
// what they reassemble, so a torn or tampered blob is never handed out.
import { createHash } from 'node:crypto';
import type { BlobStore } from '../contracts/store.js';
import type { Logger } from '../core/logger.js';
import type { EtcdConnection } from './etcd-connection.js';
import { prefixRange } from './etcd-keys.js';

export const BLOB_CHUNK_BYTES = 1024 * 1024;
/** Chunks fetched at once when a blob is read. */
const READ_PARALLEL = 4;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const LIST_PAGE = 1000;

interface Manifest { size: number; chunk_size: number; chunks: number; created_at: number; complete: boolean }

export interface EtcdBlobOptions {
  connection: EtcdConnection;
  /** `<prefix>/gatehouse/blobs/` */
  dir: string;
  /**
   * keepOnly spares blobs written this recently: another node may have stored one for an
   * object it is about to write (the upload and the object are two writes).
   */
  graceMs: number;
  log: Logger;
}

export class EtcdBlobStore implements BlobStore {
  constructor(private readonly opts: EtcdBlobOptions) {}

  async putBlob(bytes: Uint8Array): Promise<string> {
    const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const chunks = Math.ceil(data.length / BLOB_CHUNK_BYTES);
    const manifest: Manifest = { size: data.length, chunk_size: BLOB_CHUNK_BYTES, chunks, created_at: Date.now(), complete: false };
    const existing = await this.manifest(sha256);
    if (existing?.complete === true) {
      // stored already: the fresh created_at keeps a concurrent keepOnly from taking it
      await this.put(this.manifestKey(sha256), JSON.stringify({ ...existing, created_at: manifest.created_at }));
      return sha256;
    }
    await this.put(this.manifestKey(sha256), JSON.stringify(manifest));
    for (let n = 0; n < chunks; n++) {
      await this.put(this.chunkKey(sha256, n), data.subarray(n * BLOB_CHUNK_BYTES, (n + 1) * BLOB_CHUNK_BYTES));
    }
    await this.put(this.manifestKey(sha256), JSON.stringify({ ...manifest, complete: true }));
    return sha256;
  }

  async getBlob(sha256: string): Promise<Buffer | undefined> {
    if (!SHA256_HEX.test(sha256)) return undefined;
    const manifest = await this.manifest(sha256);
    if (manifest === undefined || !manifest.complete) return undefined;
    const parts: Buffer[] = new Array<Buffer>(manifest.chunks);
    for (let first = 0; first < manifest.chunks; first += READ_PARALLEL) {
      const batch = [];
      for (let n = first; n < Math.min(first + READ_PARALLEL, manifest.chunks); n++) {
        batch.push(this.get(this.chunkKey(sha256, n)).then((value) => { if (value !== undefined) parts[n] = value; }));
      }
      await Promise.all(batch);
    }
    const missing = parts.findIndex((p) => p === undefined);
    if (parts.length !== manifest.chunks || missing !== -1) {
      this.opts.log.error({ sha256, chunk: missing }, 'blob in etcd is incomplete: a chunk is missing');
      return undefined;
    }
    const data = Buffer.concat(parts);
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== sha256 || data.length !== manifest.size) {
      this.opts.log.error({ sha256, actual_sha256: actual, size: data.length, expected_size: manifest.size },
        'blob in etcd does not match its sha256: not used');
      return undefined;
    }
    return data;
  }

  async keepOnly(referenced: ReadonlySet<string>): Promise<string[]> {
    const found = await this.storedKeys();
    const gone: string[] = [];
    const now = Date.now();
    for (const sha256 of [...found].sort()) {
      if (referenced.has(sha256)) continue;
      const manifest = await this.manifest(sha256);
      if (manifest !== undefined && now - manifest.created_at < this.opts.graceMs) continue;
      const range = prefixRange(`${this.opts.dir}${sha256}/`);
      await this.opts.connection.request((c) => c.kv.deleteRange(range));
      gone.push(sha256);
    }
    return gone;
  }

  /** The sha256 of every blob with anything stored (keys only: the chunks stay in etcd). */
  private async storedKeys(): Promise<Set<string>> {
    const shas = new Set<string>();
    const range = prefixRange(this.opts.dir);
    let start = range.key;
    for (;;) {
      const from = start;
      const res = await this.opts.connection.request((c) =>
        c.kv.range({ key: from, range_end: range.range_end, keys_only: true, limit: LIST_PAGE }));
      for (const kv of res.kvs) shas.add(kv.key.toString().slice(this.opts.dir.length).split('/')[0]!);
      if (!res.more || res.kvs.length === 0) return shas;
      start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }

  private async manifest(sha256: string): Promise<Manifest | undefined> {
    const raw = await this.get(this.manifestKey(sha256));
    if (raw === undefined) return undefined;
    let manifest: Partial<Manifest> | undefined;
    try {
      manifest = JSON.parse(raw.toString()) as Partial<Manifest>;
    } catch {
      // reported below
    }
    if (!isManifest(manifest)) {
      this.opts.log.error({ sha256, manifest: raw.toString().slice(0, 200) }, 'blob manifest in etcd is not valid: the blob is not used');
      return undefined;
    }
    return manifest;
  }

  private async get(key: string): Promise<Buffer | undefined> {
    const res = await this.opts.connection.request((c) => c.kv.range({ key: Buffer.from(key) }));
    return res.kvs[0]?.value;
  }

  private async put(key: string, value: string | Buffer): Promise<void> {
    await this.opts.connection.request((c) => c.kv.put({ key: Buffer.from(key), value: Buffer.from(value) }));
  }

  private manifestKey(sha256: string): string {
    return `${this.opts.dir}${sha256}/manifest`;
  }

  private chunkKey(sha256: string, n: number): string {
    return `${this.opts.dir}${sha256}/${n}`;
  }
}

function isManifest(m: Partial<Manifest> | undefined): m is Manifest {
  return m !== null && typeof m === 'object' && Number.isSafeInteger(m.size) && Number.isSafeInteger(m.chunks) && m.chunks! >= 0
    && typeof m.created_at === 'number' && typeof m.complete === 'boolean';
}
