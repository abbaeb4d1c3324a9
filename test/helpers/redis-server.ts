// Real Redis for the counter tests: Debian's `redis-server` on a loopback port of its
// own (no persistence, a temp dir), which a test can stop and start again on the same
// port or freeze (SIGSTOP) to play a hung server; and a Redis Cluster of three masters
// made with `redis-cli --cluster create`. Every wait is bounded.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { stopChild } from './child-process.js';

const SERVER = 'redis-server';
const CLI = 'redis-cli';
const START_TIMEOUT_MS = 10_000;
const CLUSTER_TIMEOUT_MS = 20_000;

export interface TestRedis {
  host: '127.0.0.1';
  port: number;
  /** `127.0.0.1:<port>`, as `redis_cluster_nodes` names a node. */
  address: string;
  /** Stops the server (its data goes with it: no persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing until `resume`. */
  pause(): void;
  resume(): void;
  /** Runs redis-cli against this server; resolves its output (rejects on a non-zero exit). */
  cli(...args: string[]): Promise<string>;
  /** Stops the server and removes its folder. */
  close(): Promise<void>;
}

export interface TestRedisCluster {
  nodes: TestRedis[];
  /** The masters' addresses, as `redis_cluster_nodes`. */
  addresses: string[];
  close(): Promise<void>;
}

/** Why the Redis tests cannot run here, or undefined when they can. */
export function redisMissing(): string | undefined {
  for (const bin of [SERVER, CLI]) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (r.error !== undefined || r.status !== 0) {
      return `${bin} is missing: apt-get install -y redis-server redis-tools (CI's .ci/run installs them)`;
    }
  }
  return undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs a command to completion (killed after `timeoutMs`); resolves its exit status and output. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
    p.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', (err) => { clearTimeout(timer); resolve({ status: null, out: err.message }); });
    p.once('close', (status) => { clearTimeout(timer); resolve({ status, out }); });
  });
}

// Servers still running when the test process exits (a failed test skipped its cleanup)
// must not outlive it.
const running = new Set<ChildProcess>();
process.once('exit', () => { for (const p of running) p.kill('SIGKILL'); });

export interface RedisOptions {
  /** `requirepass`. */
  password?: string;
  /** cluster-enabled yes, with its bus on `busPort`. */
  cluster?: { busPort: number };
}

export async function startRedis(opts: RedisOptions = {}): Promise<TestRedis> {
  const missing = redisMissing();
  if (missing !== undefined) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-'));
  const port = await freePort();
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--daemonize', 'no', '--loglevel', 'warning', '--logfile', '',
    ...(opts.password !== undefined ? ['--requirepass', opts.password] : []),
    ...(opts.cluster !== undefined
      ? ['--cluster-enabled', 'yes', '--cluster-port', String(opts.cluster.busPort), '--cluster-config-file', join(dir, 'nodes.conf')]
      : []),
  ];
  let proc: ChildProcess | undefined;
  let paused = false;
  const auth = opts.password !== undefined ? ['-a', opts.password, '--no-auth-warning'] : [];
  const cli = async (...cmd: string[]): Promise<string> => {
    const r = await run(CLI, ['-h', '127.0.0.1', '-p', String(port), ...auth, ...cmd], 10_000);
    if (r.status !== 0) throw new Error(`redis-cli ${cmd.join(' ')}: ${r.out}`);
    return r.out;
  };

  const start = async (): Promise<void> => {
    if (proc !== undefined) throw new Error(`redis-server on ${port} is already running`);
    const p = spawn(SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(p);
    let out = '';
    p.stdout!.on('data', (c: Buffer) => { out = (out + c.toString()).slice(-4000); });
    p.stderr!.on('data', (c: Buffer) => { out = (out + c.toString()).slice(-4000); });
    p.once('exit', () => running.delete(p));
    proc = p;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) break;
      if ((await run(CLI, ['-h', '127.0.0.1', '-p', String(port), ...auth, 'ping'], 2_000)).out.trim() === 'PONG') return;
      await sleep(50);
    }
    p.kill('SIGKILL');
    proc = undefined;
    throw new Error(`redis-server did not start on 127.0.0.1:${port}: ${out}`);
  };

  const stop = async (): Promise<void> => {
    const p = proc;
    if (p === undefined) return;
    proc = undefined;
    paused = false;
    await stopChild(p);
  };

  await start();
  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    stop,
    start,
    pause() {
      if (proc === undefined) throw new Error('redis-server is not running');
      proc.kill('SIGSTOP');
      paused = true;
    },
    resume() {
      proc?.kill('SIGCONT');
      paused = false;
    },
    cli,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Three masters, no replicas, all 16384 slots assigned and `cluster_state:ok` on every node. */
export async function startRedisCluster(masters = 3): Promise<TestRedisCluster> {
  const nodes: TestRedis[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.close()));
  };
  try {
    for (let i = 0; i < masters; i++) nodes.push(await startRedis({ cluster: { busPort: await freePort() } }));
    const addresses = nodes.map((n) => n.address);
    const create = await run(CLI, ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], CLUSTER_TIMEOUT_MS);
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.out}`);
    const deadline = Date.now() + CLUSTER_TIMEOUT_MS;
    for (;;) {
      const infos = await Promise.all(nodes.map((n) => n.cli('cluster', 'info')));
      if (infos.every((info) => /cluster_state:ok/.test(info))) break;
      if (Date.now() > deadline) throw new Error(`the cluster did not reach cluster_state:ok: ${infos.join('\n')}`);
      await sleep(100);
    }
    return { nodes, addresses, close };
  } catch (err) {
    await close();
    throw err;
  }
}
