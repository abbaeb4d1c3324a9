import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile, rm, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

// Starts the real gateway (bin/gatehouse.js start) as a child process on ephemeral
// ports, with a standalone config file the test can rewrite.

const ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
const BIN = join(ROOT, 'bin', 'gatehouse.js');

export interface GatewayOptions {
  /** The standalone file's content (APISIX standalone format). */
  config?: Record<string, unknown>;
  workers?: number;
  tls?: boolean;
  /** Extra keys merged into `node:` of config.yaml. */
  node?: Record<string, unknown>;
  /** Extra top-level keys of config.yaml. */
  extra?: Record<string, unknown>;
  logLevel?: string;
}

export interface Gateway {
  dir: string;
  configFile: string;
  standaloneFile: string;
  proc: ChildProcess;
  httpPort: number;
  httpsPort?: number;
  url: string;
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

export async function startGateway(opts: GatewayOptions = {}): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-test-'));
  const standaloneFile = join(dir, 'gatehouse.yaml');
  const configFile = join(dir, 'config.yaml');
  const listen: Record<string, unknown>[] = [{ host: '127.0.0.1', port: 0 }];
  if (opts.tls) listen.push({ host: '127.0.0.1', port: 0, tls: true });
  const nodeConf = {
    node: { listen, workers: opts.workers ?? 1, ...(opts.node ?? {}) },
    admin: { listen: { host: '127.0.0.1', port: 0 } },
    store: { type: 'standalone', standalone: { file: standaloneFile } },
    data_dir: join(dir, 'data'),
    log: { level: opts.logLevel ?? 'info' },
    ...(opts.extra ?? {}),
  };
  await writeFile(configFile, stringify(nodeConf));
  await writeFile(standaloneFile, stringify(opts.config ?? {}));

  const proc = spawn(process.execPath, [BIN, 'start', '-c', configFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
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

  await waitForOutput('gatehouse started');
  const line = out.split('\n').find((l) => l.includes('gatehouse started'))!;
  const started = JSON.parse(line) as { listen: { port: number; tls: boolean }[] };
  const httpPort = started.listen.find((l) => !l.tls)!.port;
  const httpsPort = started.listen.find((l) => l.tls)?.port;

  let writes = 0;
  return {
    dir, configFile, standaloneFile, proc, httpPort, httpsPort,
    url: `http://127.0.0.1:${httpPort}`,
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
      await rm(dir, { recursive: true, force: true });
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
