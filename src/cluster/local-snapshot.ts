// The last good configuration a cluster node applied, kept in its data_dir, so a node
// that starts while etcd is unreachable still serves what it served before (APISIX
// cannot: it refuses to start without etcd). Written after every applied change, at
// most once per `minIntervalMs`, to a temporary file that is fsynced and then renamed
// over the previous one: a crash leaves the old snapshot or the new one, never half of
// either. The file holds credentials as the store does: mode 0600.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { StoreState } from '../contracts/store.js';
import { RESOURCE_KINDS } from '../contracts/resources.js';

const FORMAT = 1;

interface SnapshotFile {
  format: number;
  /** Where it came from (the etcd endpoints and prefix), so another cluster's snapshot is not served. */
  source: string;
  savedAt: string;
  state: StoreState;
}

export class LocalSnapshot {
  private timer: NodeJS.Timeout | undefined;
  private pending: (() => StoreState) | undefined;
  private lastSaved = 0;

  constructor(readonly file: string, private readonly source: string, private readonly minIntervalMs = 200,
    private readonly onError: (err: Error) => void = () => undefined) {}

  /**
   * The snapshot, or undefined when there is none. A file that is unreadable, of another
   * format or of another source throws: serving the wrong configuration is worse than
   * not starting.
   */
  load(): { state: StoreState; savedAt: string } | undefined {
    if (!existsSync(this.file)) return undefined;
    let parsed: SnapshotFile;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8')) as SnapshotFile;
    } catch (err) {
      throw new Error(`the local snapshot ${this.file} cannot be read: ${(err as Error).message}`);
    }
    if (parsed.format !== FORMAT) throw new Error(`the local snapshot ${this.file} has format ${String(parsed.format)}, not ${FORMAT}`);
    if (parsed.source !== this.source) {
      throw new Error(`the local snapshot ${this.file} was taken from ${parsed.source}, not ${this.source}`);
    }
    const { state } = parsed;
    if (typeof state?.revision !== 'number' || !Array.isArray(state.objects)
      || state.objects.some((o) => !RESOURCE_KINDS.includes(o.kind) || typeof o.id !== 'string')) {
      throw new Error(`the local snapshot ${this.file} is not a configuration snapshot`);
    }
    return { state, savedAt: parsed.savedAt };
  }

  /** Saves the state `read` returns, now or within minIntervalMs (later calls replace earlier ones). */
  save(read: () => StoreState): void {
    this.pending = read;
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.lastSaved + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
    this.timer.unref();
  }

  /** Writes a pending save now (at shutdown). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const read = this.pending;
    this.pending = undefined;
    if (read === undefined) return;
    try {
      this.write({ format: FORMAT, source: this.source, savedAt: new Date().toISOString(), state: read() });
      this.lastSaved = Date.now();
    } catch (err) {
      this.onError(err as Error);
    }
  }

  private write(content: SnapshotFile): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(content));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
