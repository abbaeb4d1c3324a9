// A real DNS server for the dns discovery tests: Debian's dnsmasq (package dnsmasq-base)
// on a loopback UDP port of its own, answering only from a hosts file and `conf` lines
// (`srv-host=`, `cname=`, `host-record=`) with a short TTL, and NXDOMAIN for any other
// name under `.test`. `setHosts` rewrites the hosts file and sends SIGHUP (dnsmasq re-reads
// it); SRV and CNAME lines are read at start only, so `restart` takes new ones. Every wait
// is bounded.
import { spawn, type ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { stopChild } from './child-process.js';
import { freeUdpPort } from './ports.js';

export const DNSMASQ = '/usr/sbin/dnsmasq';
const START_TIMEOUT_MS = 10_000;

export interface TestDnsmasq {
  /** `127.0.0.1:<port>`, as `discovery.dns.servers` names it. */
  readonly server: string;
  readonly port: number;
  /** Replaces the hosts file (`address name` lines) and has dnsmasq re-read it. */
  setHosts(lines: string[]): Promise<void>;
  /** Stops the server; `start` brings it back on the same port. */
  stop(): Promise<void>;
  /** Starts it again, with new `conf` lines when given. */
  start(conf?: string[]): Promise<void>;
  close(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => { for (const p of running) p.kill('SIGKILL'); });

export async function startDnsmasq(opts: { hosts: string[]; conf?: string[]; ttl?: number }): Promise<TestDnsmasq> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-dnsmasq-'));
  const hostsFile = join(dir, 'hosts');
  const confFile = join(dir, 'dnsmasq.conf');
  const port = await freeUdpPort();
  let conf = opts.conf ?? [];
  let child: ChildProcess | undefined;
  let output = '';

  const start = async (next?: string[]): Promise<void> => {
    if (next !== undefined) conf = next;
    await writeFile(confFile, [`local-ttl=${opts.ttl ?? 1}`, 'local=/test/', ...conf, ''].join('\n'));
    const p = spawn(DNSMASQ, [
      '--no-daemon', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts',
      `--addn-hosts=${hostsFile}`, `--conf-file=${confFile}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`, `--user=${userInfo().username}`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = p;
    running.add(p);
    p.once('exit', () => running.delete(p));
    p.stdout!.on('data', (c: Buffer) => { output += c.toString(); });
    p.stderr!.on('data', (c: Buffer) => { output += c.toString(); });
    const resolver = new Resolver({ timeout: 200, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`dnsmasq exited (${p.exitCode}): ${output}`);
      try {
        await resolver.resolve4('ready-probe.test');
        return;
      } catch (err) {
        // NXDOMAIN: it answers
        if ((err as NodeJS.ErrnoException).code === 'ENOTFOUND') return;
      }
      if (Date.now() > deadline) throw new Error(`dnsmasq did not answer within ${START_TIMEOUT_MS} ms: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async (): Promise<void> => {
    if (child !== undefined) await stopChild(child);
    child = undefined;
  };

  await writeFile(hostsFile, `${opts.hosts.join('\n')}\n`);
  await start();
  return {
    server: `127.0.0.1:${port}`,
    port,
    async setHosts(lines) {
      await writeFile(hostsFile, `${lines.join('\n')}\n`);
      child?.kill('SIGHUP');
    },
    stop,
    start,
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
