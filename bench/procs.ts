// Child-process bookkeeping for the bench: every process the harness starts is registered here and
// killed (its whole process group) on normal exit, on SIGINT/SIGTERM and on a crash of the harness.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { connect, createServer } from 'node:net';
import { delimiter, join } from 'node:path';

const TAIL_BYTES = 8192;
const live = new Set<ManagedProcess>();

/**
 * Where a process runs when CPUs are pinned: the proxy under test alone on one core, the
 * load generator and the upstream on the other(s), so a proxy's req/s measures its own
 * cost per request rather than how it shares two cores with its load generator.
 */
export type CpuRole = 'proxy' | 'driver';
let pinnedCpus: Record<CpuRole, string> | undefined;

/** Turns pinning on (taskset, at least 2 CPUs); returns what it does, or why it could not. */
export function pinCpus(cpuCount: number): string {
  if (cpuCount < 2) return `off (${cpuCount} CPU)`;
  if (which('taskset') === undefined) return 'off (taskset is not on PATH: util-linux)';
  const last = cpuCount - 1;
  pinnedCpus = { proxy: String(last), driver: last === 1 ? '0' : `0-${last - 1}` };
  return `proxy under test on CPU ${pinnedCpus.proxy}; load generator and upstream on CPU ${pinnedCpus.driver}`;
}

export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  private tail = '';
  private exitInfo: number | string | undefined;

  constructor(name: string, command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; cpu?: CpuRole } = {}) {
    this.name = name;
    if (pinnedCpus !== undefined && opts.cpu !== undefined) {
      // taskset execs the command: the pid, and the process group stop() signals, stay the same
      args = ['-c', pinnedCpus[opts.cpu], command, ...args];
      command = 'taskset';
    }
    // detached: own process group, so stop() also reaches grandchildren (cluster workers, nginx workers).
    this.child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (b: Buffer): void => {
      this.tail += b.toString('utf8');
      if (this.tail.length > TAIL_BYTES * 2) this.tail = this.tail.slice(-TAIL_BYTES);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => { keep(Buffer.from(`\n[spawn error] ${err.message}\n`)); this.exitInfo ??= 'spawn-error'; live.delete(this); resolve(this.exitInfo); });
      this.child.on('exit', (code, signal) => { this.exitInfo = code ?? signal ?? 'unknown'; live.delete(this); resolve(this.exitInfo); });
    });
  }

  get alive(): boolean { return this.exitInfo === undefined; }
  get exitDescription(): string { return this.exitInfo === undefined ? 'running' : typeof this.exitInfo === 'number' ? `exit code ${this.exitInfo}` : `signal/${this.exitInfo}`; }
  /** The last few KiB of stdout+stderr, for error messages. */
  output(maxChars = 2000): string { return this.tail.slice(-maxChars).trimEnd(); }

  private signalGroup(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try { process.kill(-pid, sig); } catch { try { this.child.kill(sig); } catch { /* already gone */ } }
  }

  /** SIGTERM the process group, SIGKILL it after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.alive) { this.signalGroup('SIGKILL'); return; } // leftovers of the group, if any
    this.signalGroup('SIGTERM');
    const timer = setTimeout(() => this.signalGroup('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    this.signalGroup('SIGKILL');
  }

  killNow(): void { this.signalGroup('SIGKILL'); }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

let cleanupInstalled = false;
/** Kill every registered child on exit, Ctrl-C, SIGTERM and uncaught errors. `onExit` runs synchronously last. */
export function installCleanup(onExit: () => void): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', () => { for (const p of live) p.killNow(); onExit(); });
  const bySignal = (sig: NodeJS.Signals, code: number): void => {
    process.stderr.write(`\n${sig}: stopping benchmark processes…\n`);
    for (const p of live) p.killNow();
    process.exit(code);
  };
  process.on('SIGINT', () => bySignal('SIGINT', 130));
  process.on('SIGTERM', () => bySignal('SIGTERM', 143));
  process.on('SIGHUP', () => bySignal('SIGHUP', 129));
  process.on('uncaughtException', (err) => { process.stderr.write(`bench: ${err.stack ?? String(err)}\n`); process.exit(1); });
  process.on('unhandledRejection', (err) => { process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`); process.exit(1); });
}

/** A free TCP port on 127.0.0.1 (bound to port 0, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** An executable named `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const full = join(dir, name);
    try { accessSync(full, constants.X_OK); return full; } catch { /* keep looking */ }
  }
  return undefined;
}

export interface HttpResult {
  status: number;
  bytes: number;
  headers: Record<string, string | string[] | undefined>;
  /** HTTP/2 only: the response's trailers, when it had any. */
  trailers?: Record<string, string | string[] | undefined>;
}

/** One GET on a fresh connection, bounded by `timeoutMs`. */
export function httpGet(url: string, timeoutMs = 2000, send?: { method: string; headers: Record<string, string>; body: string }): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: send?.method ?? 'GET', headers: send?.headers, agent: false, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(send?.body);
  });
}

/** One GET (or `send`) over HTTP/2 with prior knowledge (h2c) on a fresh session, bounded by `timeoutMs`. */
export function http2Get(url: string, timeoutMs = 2000, send?: { method: string; headers: Record<string, string>; body: string }): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const { origin, pathname, search } = new URL(url);
    const session = http2Connect(origin);
    const timer = setTimeout(() => session.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const done = (err: Error | undefined, result?: HttpResult): void => {
      clearTimeout(timer);
      session.close();
      if (err !== undefined) reject(err); else resolve(result as HttpResult);
    };
    session.on('error', (err) => done(err));
    const stream = session.request({ ':method': send?.method ?? 'GET', ':path': pathname + search, ...send?.headers }, { endStream: send === undefined });
    let status = 0, bytes = 0;
    let headers: HttpResult['headers'] = {};
    let trailers: HttpResult['trailers'];
    stream.on('response', (h) => { status = Number(h[':status']); headers = h; });
    stream.on('trailers', (t) => { trailers = t; });
    stream.on('data', (c: Buffer) => { bytes += c.length; });
    stream.on('end', () => done(undefined, { status, bytes, headers, trailers }));
    stream.on('error', (err) => done(err));
    if (send !== undefined) stream.end(Buffer.from(send.body, 'latin1'));
  });
}

/** Why an HTTP/2 answer is not a successful gRPC call (HTTP 200, grpc-status 0 in its trailers), or undefined when it is. */
export function grpcFailure(res: HttpResult): string | undefined {
  if (res.status !== 200) return `HTTP ${res.status}`;
  // a trailers-only answer carries its grpc-status in the head: an error the proxy or server made
  if (res.headers['grpc-status'] !== undefined) return `a trailers-only answer, grpc-status ${String(res.headers['grpc-status'])} (${String(res.headers['grpc-message'] ?? '')})`;
  const status = res.trailers?.['grpc-status'];
  if (status === undefined) return 'no grpc-status trailer';
  return status === '0' ? undefined : `grpc-status ${String(status)} (${String(res.trailers?.['grpc-message'] ?? '')})`;
}

/** Polls `url` with one gRPC unary call (`send`) until it succeeds (grpc-status 0); fails as waitForReady does. */
export async function waitForGrpc(url: string, proc: ManagedProcess, timeoutMs: number, send: { method: string; headers: Record<string, string>; body: string }): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt yet';
  while (Date.now() < deadline) {
    if (!proc.alive) throw new Error(`${proc.name} exited (${proc.exitDescription}) before a gRPC call to ${url} succeeded` + outputBlock(proc));
    try {
      const why = grpcFailure(await http2Get(url, 1000, send));
      if (why === undefined) return;
      last = why;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`${proc.name} did not answer a gRPC call on ${url} within ${Math.round(timeoutMs / 1000)} s (last: ${last})` + outputBlock(proc));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `url` (with a GET, or `send`) until it answers 200. Fails early when `proc` exits, and after `timeoutMs` with the last
 * status or error seen and the tail of the process output.
 */
export async function waitForReady(url: string, proc: ManagedProcess, timeoutMs: number, send?: { method: string; headers: Record<string, string>; body: string }): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt yet';
  while (Date.now() < deadline) {
    if (!proc.alive) {
      throw new Error(`${proc.name} exited (${proc.exitDescription}) before it answered 200 on ${url}` + outputBlock(proc));
    }
    try {
      const r = await httpGet(url, 1000, send);
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`${proc.name} did not answer 200 on ${url} within ${Math.round(timeoutMs / 1000)} s (last: ${last})` + outputBlock(proc));
}

/**
 * Waits until `port` accepts a connection; with `echo`, until a byte written to it comes back
 * (a stream route whose listener is up before its route is applied closes the connection).
 */
export async function waitForTcp(port: number, proc: ManagedProcess, timeoutMs: number, echo = false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt yet';
  while (Date.now() < deadline) {
    if (!proc.alive) throw new Error(`${proc.name} exited (${proc.exitDescription}) before 127.0.0.1:${port} answered` + outputBlock(proc));
    try {
      await new Promise<void>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port });
        const timer = setTimeout(() => s.destroy(new Error('no answer within 1 s')), 1000);
        const done = (err?: Error): void => { clearTimeout(timer); s.destroy(); if (err === undefined) resolve(); else reject(err); };
        s.once('error', done);
        s.once('close', () => done(new Error('closed without an answer')));
        s.once('connect', () => { if (echo) s.write('.'); else done(); });
        s.once('data', () => done());
      });
      return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`${proc.name} did not answer on 127.0.0.1:${port} within ${Math.round(timeoutMs / 1000)} s (last: ${last})` + outputBlock(proc));
}

export function outputBlock(proc: ManagedProcess): string {
  const out = proc.output();
  return out === '' ? `\n    (${proc.name} printed nothing)` : `\n    --- last output of ${proc.name} ---\n    ${out.split('\n').join('\n    ')}`;
}

let clockTicks: number | undefined;

/** `pid` and every process below it (cluster workers, nginx workers), from /proc; empty where /proc is missing. */
function processTree(pid: number | undefined): number[] {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return [];
  const seen = new Set<number>();
  const visit = (p: number): void => {
    if (seen.has(p)) return;
    seen.add(p);
    try {
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
        if (children !== '') for (const c of children.split(' ')) visit(Number(c));
      }
    } catch { /* the process exited meanwhile */ }
  };
  visit(pid);
  return [...seen];
}

/**
 * CPU time (user + system, in ms) used so far by `pid` and every process below it, from /proc;
 * undefined where /proc is not available. Resolution is one clock tick (10 ms on Linux), so read
 * it around runs of seconds, not single requests.
 */
export function processTreeCpuMs(pid: number | undefined): number | undefined {
  const tree = processTree(pid);
  if (tree.length === 0) return undefined;
  clockTicks ??= (() => {
    try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { return 100; }
  })();
  let ticks = 0;
  for (const p of tree) {
    try {
      // fields after the command (which may hold spaces) start after the last ')'; utime and stime are fields 14 and 15
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* the process exited meanwhile */ }
  }
  return (ticks * 1000) / clockTicks;
}

/** Resident memory (VmRSS, in MiB) of `pid` and every process below it, from /proc; undefined where /proc is not available. */
export function processTreeRssMiB(pid: number | undefined): number | undefined {
  const tree = processTree(pid);
  if (tree.length === 0) return undefined;
  let kib = 0;
  for (const p of tree) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m !== null) kib += Number(m[1]);
    } catch { /* the process exited meanwhile */ }
  }
  return kib / 1024;
}
