// A real rsyslogd for the syslog tests: Debian's rsyslog run in the foreground (-n) with
// a config of its own (imudp and imtcp on free 127.0.0.1 ports, an omfile action writing
// each message's RFC 5424 fields to a temp file), its own pid file and work directory;
// no system-wide rsyslog is touched. Every wait is bounded.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, freeUdpPort } from './ports.js';
import { stopChild } from './child-process.js';

const START_TIMEOUT_MS = 10_000;

/** One message as rsyslog parsed it. */
export interface SyslogRecord {
  pri: number;
  version: string;
  timestamp: string;
  hostname: string;
  appName: string;
  procid: string;
  msgid: string;
  structuredData: string;
  msg: string;
  /** The input that received it: `imudp` or `imtcp`. */
  input: string;
}

export interface TestRsyslog {
  udpPort: number;
  tcpPort: number;
  /** Messages received so far (parsed from the output file), the probes left out. */
  messages(): SyslogRecord[];
  close(): Promise<void>;
}

/** rsyslogd on PATH, else where Debian puts it (/usr/sbin is not on every user's PATH). */
function rsyslogd(): string {
  return spawnSync('rsyslogd', ['-v']).error === undefined ? 'rsyslogd' : '/usr/sbin/rsyslogd';
}

/** Why the rsyslog tests cannot run here, or undefined when they can. */
export function rsyslogMissing(): string | undefined {
  const r = spawnSync(rsyslogd(), ['-v'], { encoding: 'utf8' });
  return r.error !== undefined || r.status !== 0 ? 'rsyslogd is missing: apt-get install -y rsyslog (CI\'s .ci/run installs it)' : undefined;
}

const SEP = '\u001f';
const FIELDS = ['pri', 'protocol-version', 'timereported', 'hostname', 'app-name', 'procid', 'msgid', 'structured-data', 'inputname', 'msg'];

function config(dir: string, udpPort: number, tcpPort: number): string {
  const template = FIELDS.map((f) => (f === 'timereported'
    ? `property(name="${f}" dateFormat="rfc3339")`
    : `property(name="${f}")`)).join(` constant(value="${SEP}") `);
  return [
    `global(workDirectory="${dir}" maxMessageSize="256k")`,
    'module(load="imudp")',
    'module(load="imtcp")',
    `input(type="imudp" address="127.0.0.1" port="${udpPort}")`,
    `input(type="imtcp" address="127.0.0.1" port="${tcpPort}")`,
    `template(name="fields" type="list") { ${template} constant(value="\\n") }`,
    `action(type="omfile" file="${join(dir, 'out.log')}" template="fields")`,
    '',
  ].join('\n');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

function sendProbe(port: number, text: string): Promise<void> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.send(`<13>1 - - probe - - - ${text}`, port, '127.0.0.1', () => { s.close(); resolve(); });
  });
}

// A server left running by a test that failed before its cleanup must not outlive it.
const running = new Set<ChildProcess>();
process.once('exit', () => { for (const p of running) p.kill('SIGKILL'); });

export async function startRsyslog(): Promise<TestRsyslog> {
  const missing = rsyslogMissing();
  if (missing !== undefined) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-rsyslog-'));
  const [udpPort, tcpPort] = [await freeUdpPort(), await freePort()];
  const confFile = join(dir, 'rsyslog.conf');
  writeFileSync(confFile, config(dir, udpPort, tcpPort));
  const proc = spawn(rsyslogd(), ['-n', '-f', confFile, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => { out = (out + c.toString()).slice(-4000); });
  proc.stderr!.on('data', (c: Buffer) => { out = (out + c.toString()).slice(-4000); });

  const records = (): SyslogRecord[] => {
    let text = '';
    try { text = readFileSync(join(dir, 'out.log'), 'utf8'); } catch { return []; }
    return text.split('\n').filter((l) => l !== '').map((line) => {
      const f = line.split(SEP);
      // the message is last, and may itself hold the separator
      const msg = f.slice(FIELDS.length - 1).join(SEP);
      return {
        pri: Number(f[0]), version: f[1]!, timestamp: f[2]!, hostname: f[3]!, appName: f[4]!, procid: f[5]!, msgid: f[6]!,
        structuredData: f[7]!, input: f[8]!, msg,
      };
    });
  };
  const close = async (): Promise<void> => {
    await stopChild(proc);
    rmSync(dir, { recursive: true, force: true });
  };

  // ready: the TCP input accepts, and a probe datagram made it to the file
  const deadline = Date.now() + START_TIMEOUT_MS;
  let ready = false;
  for (let i = 0; Date.now() < deadline && proc.exitCode === null; i++) {
    if (await tcpAccepts(tcpPort)) {
      await sendProbe(udpPort, `ready-${i}`);
      await sleep(50);
      if (records().some((r) => r.appName === 'probe')) {
        ready = true;
        break;
      }
    } else {
      await sleep(50);
    }
  }
  if (!ready) {
    await close();
    throw new Error(`rsyslogd did not start on 127.0.0.1 udp ${udpPort} / tcp ${tcpPort}: ${out}`);
  }
  return { udpPort, tcpPort, messages: () => records().filter((r) => r.appName !== 'probe'), close };
}
