// Starts Debian's etcd binary (apt package etcd-server) on 127.0.0.1 for tests: its own
// client and peer ports, its own data folder. restart() comes back on the same ports and
// data, which is what disconnect/resume tests need: the watcher's revision still exists.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { freePort } from './ports.js';
import { stopChild } from './child-process.js';

export interface EtcdTls {
  /** etcd's server certificate and key (PEM), for the name localhost. */
  cert: string;
  key: string;
  /** The CA that signed `cert` (PEM): the helper's own client trusts it. */
  ca: string;
}

export interface EtcdServerOptions {
  /** Serve the client port over TLS (the endpoint becomes https://localhost:<port>). */
  tls?: EtcdTls;
  /** How long a (re)start may take before it fails (default 10 s). */
  startTimeoutMs?: number;
}

export interface EtcdServer {
  /** `http://127.0.0.1:<port>` (or `https://localhost:<port>` with TLS). */
  readonly endpoint: string;
  readonly clientPort: number;
  /** A client for raw reads and writes (root credentials once `enableAuth` ran). */
  client(): Etcd3;
  /** Stops etcd (SIGTERM, SIGKILL after 5 s); its data stays. */
  stop(): Promise<void>;
  /** Starts etcd again on the same ports and data. */
  restart(): Promise<void>;
  /** Freezes etcd (SIGSTOP): connections stay open and nothing answers, like a network partition. */
  pause(): void;
  /** Lets a paused etcd go on (SIGCONT). */
  resume(): void;
  /** Compacts the history up to `revision` (default: the current revision); returns it. */
  compact(revision?: number): Promise<number>;
  /** Creates user `root` with `rootPassword` and turns etcd's authentication on. */
  enableAuth(rootPassword: string): Promise<void>;
  /** Stops etcd and removes its data. */
  cleanup(): Promise<void>;
}

const BINARY = 'etcd';

function checkBinary(): void {
  const probe = spawnSync(BINARY, ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(`the etcd binary is missing: install the Debian package etcd-server (apt-get install -y etcd-server); ${probe.error?.message ?? probe.stderr}`);
  }
}

export async function startEtcd(opts: EtcdServerOptions = {}): Promise<EtcdServer> {
  checkBinary();
  const root = await mkdtemp(join(tmpdir(), 'gatehouse-etcd-'));
  const dataDir = join(root, 'data');
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const scheme = opts.tls === undefined ? 'http' : 'https';
  const listenUrl = `${scheme}://127.0.0.1:${clientPort}`;
  const endpoint = opts.tls === undefined ? listenUrl : `https://localhost:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'test', '--data-dir', dataDir,
    '--listen-client-urls', listenUrl, '--advertise-client-urls', listenUrl,
    '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `test=${peerUrl}`, '--initial-cluster-state', 'new',
    '--log-level', 'warn', '--logger', 'zap',
  ];
  const credentials: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer } | undefined =
    opts.tls === undefined ? undefined : { rootCertificate: Buffer.from(opts.tls.ca) };
  if (opts.tls !== undefined) {
    await writeFile(join(root, 'server.pem'), opts.tls.cert, { mode: 0o600 });
    await writeFile(join(root, 'server-key.pem'), opts.tls.key, { mode: 0o600 });
    args.push('--cert-file', join(root, 'server.pem'), '--key-file', join(root, 'server-key.pem'));
  }
  const startTimeoutMs = opts.startTimeoutMs ?? 10_000;

  let proc: ChildProcess | undefined;
  let output = '';
  let auth: { username: string; password: string } | undefined;
  let rawClient: Etcd3 | undefined;

  const client = (): Etcd3 => {
    rawClient ??= new Etcd3({
      hosts: endpoint,
      // no retries or circuit breaker: the start loop polls, and a breaker would hold it back for seconds
      faultHandling: { host: () => noop, global: noop },
      ...(credentials !== undefined ? { credentials } : {}), ...(auth !== undefined ? { auth } : {}),
    });
    return rawClient;
  };

  const start = async (): Promise<void> => {
    output = '';
    const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = child;
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`etcd exited with code ${child.exitCode} at start:\n${output.slice(-2000)}`);
      try {
        await client().maintenance.status();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await stop();
    throw new Error(`etcd did not answer on ${endpoint} within ${startTimeoutMs} ms:\n${output.slice(-2000)}`);
  };

  const stop = async (): Promise<void> => {
    const child = proc;
    proc = undefined;
    // a client left connected would keep retrying into the next start
    rawClient?.close();
    rawClient = undefined;
    if (child !== undefined) await stopChild(child);
  };

  await start();
  return {
    endpoint,
    clientPort,
    client,
    stop,
    restart: start,
    pause: () => { proc?.kill('SIGSTOP'); },
    resume: () => { proc?.kill('SIGCONT'); },
    async compact(revision?: number): Promise<number> {
      const rev = revision ?? Number((await client().maintenance.status()).header.revision);
      await client().kv.compact({ revision: rev, physical: true });
      return rev;
    },
    async enableAuth(rootPassword: string): Promise<void> {
      await client().user('root').create(rootPassword);
      await client().role('root').create().catch(() => undefined);
      await client().user('root').addRole('root');
      await client().auth.authEnable({});
      rawClient?.close();
      rawClient = undefined;
      auth = { username: 'root', password: rootPassword };
    },
    async cleanup(): Promise<void> {
      await stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
