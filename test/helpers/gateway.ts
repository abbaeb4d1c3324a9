import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, writeFile, rm, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startUpstream, type TestUpstream } from '../fixtures/upstream.js';

// Starts the real gateway (bin/gatehouse.js start) as a child process on ephemeral
// ports, with a standalone config file the test can rewrite.

const ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
const BIN = join(ROOT, 'bin', 'gatehouse.js');

export interface GatewayOptions {
  /**
   * `standalone` (default): the store is the standalone file (`config`). `sqlite`: the gateway
   * uses an (initially empty) sqlite store at `<dir>/data/gatehouse.db` instead; fill it with
   * the Admin API, `gatehouse config import` or the store API.
   */
  store?: 'standalone' | 'sqlite';
  /** `admin.keys` of config.yaml; absent = none, so the gateway generates one (see `adminKey`). */
  adminKeys?: { name: string; key: string; role?: 'admin' | 'viewer' }[];
  /** Extra keys merged into `admin:` of config.yaml (e.g. `allow`). */
  admin?: Record<string, unknown>;
  /** Run a status listener on port 0 (default true); false = the Admin API listener serves /status. */
  statusListener?: boolean;
  /** Use this folder (created when missing) instead of a fresh temporary one, e.g. to restart on the same data; `stop()` leaves it in place. */
  dir?: string;
  /** Start the gateway in its own process group, so `killGroup()` can SIGKILL the primary and its workers at once. */
  processGroup?: boolean;
  /** The standalone file's content (APISIX standalone format); unused with `store: 'sqlite'`. */
  config?: Record<string, unknown>;
  workers?: number;
  tls?: boolean;
  /** Extra keys merged into `node:` of config.yaml. */
  node?: Record<string, unknown>;
  /** Merged into the node config's `prometheus` block (the export listens on a free port). */
  prometheus?: Record<string, unknown>;
  /** Extra top-level keys of config.yaml. */
  extra?: Record<string, unknown>;
  logLevel?: string;
  /** How long the gateway has to log `gatehouse started` (default 15 s); it is killed when it does not. */
  startTimeoutMs?: number;
  /** Start the gateway (primary and workers) with this open-file limit (`prlimit --nofile`), to test descriptor exhaustion. */
  fdLimit?: number;
  /** Extra environment variables of the gateway process (e.g. for `$env://` references). */
  env?: Record<string, string>;
}

export interface Gateway {
  dir: string;
  configFile: string;
  standaloneFile: string;
  proc: ChildProcess;
  httpPort: number;
  httpsPort?: number;
  url: string;
  /** Base URL of the Admin API, prefix included: `http://127.0.0.1:<port>/apisix/admin`. */
  adminUrl: string;
  /** An admin-role key: the first configured one, else the one the gateway generated. */
  adminKey: string;
  /** Origin serving `/status` and `/status/ready` (the admin listener when `statusListener: false`). */
  statusUrl: string;
  /** The Prometheus export, `http://127.0.0.1:<port>/apisix/prometheus/metrics` (port 0 when it is disabled). */
  metricsUrl: string;
  /** SIGKILLs the whole process group (needs `processGroup: true`) and waits for the primary to go. */
  killGroup(): Promise<void>;
  /** Everything the gateway printed. */
  output(): string;
  /** Atomically replaces the standalone file (write + rename, as editors and GitOps tools do). */
  writeConfig(config: Record<string, unknown> | string): Promise<void>;
  /** Waits until `pattern` appears in the output after `from` characters. */
  waitForOutput(pattern: RegExp | string, from?: number, timeoutMs?: number): Promise<void>;
  signal(sig: NodeJS.Signals): void;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * Starts `count` gateways at once (nodes sharing one store or one Redis). Their start-ups
 * compete on two loaded cores (the runner runs test files in parallel), so each gets 45 s
 * (15 s was once not enough); when one fails, those that started are stopped before the
 * error is thrown, as no `after` hook knows them and they would keep the test process alive.
 */
export async function startGateways(count: number, opts: GatewayOptions): Promise<Gateway[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, () => startGateway({ startTimeoutMs: 45_000, ...opts })));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure === undefined) return results.map((r) => (r as PromiseFulfilledResult<Gateway>).value);
  await Promise.all(results.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
  throw failure.reason;
}

export async function startGateway(opts: GatewayOptions = {}): Promise<Gateway> {
  const dir = opts.dir ?? await mkdtemp(join(tmpdir(), 'gatehouse-test-'));
  if (opts.dir !== undefined) await mkdir(dir, { recursive: true });
  const standaloneFile = join(dir, 'gatehouse.yaml');
  const configFile = join(dir, 'config.yaml');
  const listen: Record<string, unknown>[] = [{ host: '127.0.0.1', port: 0 }];
  if (opts.tls) listen.push({ host: '127.0.0.1', port: 0, tls: true });
  const nodeConf = {
    node: { listen, workers: opts.workers ?? 1, ...(opts.node ?? {}) },
    admin: {
      listen: { host: '127.0.0.1', port: 0 },
      ...(opts.adminKeys !== undefined ? { keys: opts.adminKeys } : {}),
      ...(opts.admin ?? {}),
    },
    ...(opts.statusListener === false ? {} : { status: { listen: { host: '127.0.0.1', port: 0 } } }),
    store: opts.store === 'sqlite'
      ? { type: 'sqlite', sqlite: { path: join(dir, 'data', 'gatehouse.db') } }
      : { type: 'standalone', standalone: { file: standaloneFile } },
    data_dir: join(dir, 'data'),
    prometheus: { export: { listen: { host: '127.0.0.1', port: 0 } }, ...(opts.prometheus ?? {}) },
    log: { level: opts.logLevel ?? 'info' },
    ...(opts.extra ?? {}),
  };
  await writeFile(configFile, stringify(nodeConf));
  // a reused folder keeps its standalone file unless new content is given
  if (opts.config !== undefined || !existsSync(standaloneFile)) await writeFile(standaloneFile, stringify(opts.config ?? {}));

  const argv = [BIN, 'start', '-c', configFile];
  const [cmd, args] = opts.fdLimit === undefined
    ? [process.execPath, argv]
    : ['prlimit', [`--nofile=${opts.fdLimit}:${opts.fdLimit}`, process.execPath, ...argv]];
  const proc = spawn(cmd, args,
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.processGroup === true, env: { ...process.env, ...(opts.env ?? {}) } });
  let out = '';
  const waiters = new Set<() => void>();
  const onChunk = (c: Buffer): void => {
    out += c.toString();
    for (const w of waiters) w();
  };
  proc.stdout!.on('data', onChunk);
  proc.stderr!.on('data', onChunk);
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => { for (const w of waiters) w(); res(code); }));

  const waitForOutput = (pattern: RegExp | string, from = 0, timeoutMs = 15_000): Promise<void> =>
    new Promise((resolveWait, reject) => {
      const test = (): boolean => {
        const tail = out.slice(from);
        return typeof pattern === 'string' ? tail.includes(pattern) : pattern.test(tail);
      };
      if (test()) return resolveWait();
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${String(pattern)}; output:\n${out}`));
      }, timeoutMs);
      const check = (): void => {
        if (test()) {
          clearTimeout(timer);
          waiters.delete(check);
          resolveWait();
        } else if (proc.exitCode !== null) {
          clearTimeout(timer);
          waiters.delete(check);
          reject(new Error(`gateway exited with ${proc.exitCode}; output:\n${out}`));
        }
      };
      waiters.add(check);
    });

  try {
    await waitForOutput('gatehouse started', 0, opts.startTimeoutMs);
  } catch (err) {
    // a gateway that did not start in time must not outlive the test (its pipes keep the test file running)
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    if (opts.dir === undefined) await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n(gateway pid ${proc.pid} killed)`, { cause: err });
  }
  const line = out.split('\n').find((l) => l.includes('gatehouse started'))!;
  const started = JSON.parse(line) as {
    listen: { port: number; tls: boolean }[]; admin?: { port: number }; status?: { port: number }; prometheus?: { port: number };
  };
  const httpPort = started.listen.find((l) => !l.tls)!.port;
  const httpsPort = started.listen.find((l) => l.tls)?.port;
  const adminPort = started.admin?.port;
  const statusPort = started.status?.port ?? adminPort;
  const configured = opts.adminKeys?.find((k) => (k.role ?? 'admin') === 'admin')?.key;
  const dataDir = resolve(dir, typeof opts.extra?.data_dir === 'string' ? opts.extra.data_dir : 'data');
  const adminKey = configured
    ?? await readFile(join(dataDir, 'admin.key'), 'utf8').then((t) => t.trim(), () => '');

  let writes = 0;
  return {
    dir, configFile, standaloneFile, proc, httpPort, httpsPort,
    url: `http://127.0.0.1:${httpPort}`,
    adminUrl: `http://127.0.0.1:${adminPort ?? 0}/apisix/admin`,
    adminKey,
    statusUrl: `http://127.0.0.1:${statusPort ?? 0}`,
    metricsUrl: `http://127.0.0.1:${started.prometheus?.port ?? 0}/apisix/prometheus/metrics`,
    async killGroup() {
      if (opts.processGroup !== true) throw new Error('killGroup needs startGateway({ processGroup: true })');
      if (proc.exitCode === null && proc.signalCode === null) {
        try { process.kill(-proc.pid!, 'SIGKILL'); } catch { /* already gone */ }
        await exited;
      }
    },
    output: () => out,
    async writeConfig(config) {
      const tmp = `${standaloneFile}.${++writes}.tmp`;
      await writeFile(tmp, typeof config === 'string' ? config : stringify(config));
      await rename(tmp, standaloneFile);
    },
    waitForOutput,
    signal: (sig) => { proc.kill(sig); },
    exited,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGUSR2');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
      }
      if (opts.dir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` until it returns true, at most `tries` times `intervalMs` apart. */
export async function eventually(fn: () => Promise<boolean> | boolean, tries = 100, intervalMs = 50): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error('condition not met in time');
}

/** The folder of the test plugins (test/fixtures/plugins), for a gateway's `plugin_dirs`. */
export const FIXTURE_PLUGIN_DIR = fileURLToPath(new URL('../fixtures/plugins/', import.meta.url));

/**
 * The setup most plugin tests share: one test upstream named 'a' and a gateway whose
 * standalone config `config(upstream)` builds, `upstream` being an inline upstream
 * object pointing at that server.
 */
export async function startWithUpstream(
  config: (upstream: { nodes: Record<string, number> }) => Record<string, unknown>,
  opts: Omit<GatewayOptions, 'config'> = {},
): Promise<{ gw: Gateway; up: TestUpstream }> {
  const up = await startUpstream('a');
  const gw = await startGateway({ ...opts, config: config({ nodes: { [`127.0.0.1:${up.port}`]: 1 } }) });
  return { gw, up };
}

/** Stops what startWithUpstream started (either may be missing when its start failed). */
export async function stopWithUpstream(gw: Gateway | undefined, up: TestUpstream | undefined): Promise<void> {
  await gw?.stop();
  await up?.close();
}
