// Notices when the SQLite database file (or its -wal file) is deleted or replaced while
// the store has it open. SQLite keeps writing through its open descriptors into the old,
// unlinked inode: writes would still be acknowledged and then be gone after a restart.
// Once noticed, the problem stays until the process restarts (the open handle cannot be
// pointed at the new file safely), so writes are refused and readiness reports it.
import { statSync } from 'node:fs';

interface FileIdentity { dev: number; ino: number }

function identityOf(file: string): FileIdentity | undefined {
  try {
    const s = statSync(file);
    return { dev: s.dev, ino: s.ino };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export class SqliteFileGuard {
  private readonly main: FileIdentity | undefined;
  private wal: FileIdentity | undefined;
  private problem: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** `file` must be open already: its identity now is the one expected from then on. */
  constructor(private readonly file: string, private readonly onProblem: (message: string) => void) {
    this.main = identityOf(file);
    this.wal = identityOf(`${file}-wal`);
  }

  /** The problem found so far, after looking at the files again. */
  check(): string | undefined {
    if (this.problem !== undefined) return this.problem;
    const found = this.look();
    if (found !== undefined) {
      this.problem = `${found}: writes are refused until gatehouse restarts with a database file in place`;
      this.onProblem(this.problem);
    }
    return this.problem;
  }

  /** Also looks every `intervalMs`, so readiness notices without a write. */
  start(intervalMs: number): void {
    this.timer ??= setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private look(): string | undefined {
    const now = identityOf(this.file);
    if (now === undefined) return `the sqlite database ${this.file} was deleted while the gateway runs`;
    if (this.main !== undefined && (now.dev !== this.main.dev || now.ino !== this.main.ino)) {
      return `the sqlite database ${this.file} was replaced by another file while the gateway runs`;
    }
    const wal = identityOf(`${this.file}-wal`);
    // SQLite creates the -wal file on first use and keeps it while a connection is open.
    if (this.wal === undefined) {
      this.wal = wal;
      return undefined;
    }
    if (wal === undefined) return `the write-ahead log ${this.file}-wal was deleted while the gateway runs`;
    if (wal.dev !== this.wal.dev || wal.ino !== this.wal.ino) {
      return `the write-ahead log ${this.file}-wal was replaced by another file while the gateway runs`;
    }
    return undefined;
  }
}
