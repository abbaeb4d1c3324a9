import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { freePort } from './ports.js';

// Starts the gateway the way `npm start` does on a fresh clone (package.json's start
// command, the repository's conf/config.yaml and its seed conf/gatehouse.yaml), except
// that every listener is moved to 127.0.0.1 on a free port and the data folder is a
// temporary one. The example echo upstream cannot use an ephemeral port (the seed file
// names it), so a free port is picked and written into both copies.

const ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));

// the parsed YAML of conf/config.yaml, edited in place
type Obj = Record<string, any>;

export interface NpmStarted {
  /** The temporary folder: conf/ holds the config copies, data/ the data folder (curl commands run here). */
  dir: string;
  proc: ChildProcess;
  /** Replacements turning the documented addresses into the running ones. */
  addresses: Record<string, string>;
  gatewayPort: number;
  adminPort: number;
  echoPort: number;
  output(): string;
  stop(): Promise<void>;
}


/** `npm start`'s command line, checked to be `node bin/gatehouse.js start -c conf/config.yaml`. */
export async function npmStartArgs(): Promise<string[]> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const argv = pkg.scripts.start!.split(/\s+/);
  if (argv[0] !== 'node' || argv.at(-2) !== '-c' || argv.at(-1) !== 'conf/config.yaml') {
    throw new Error(`npm start is no longer "node ... -c conf/config.yaml": ${pkg.scripts.start}`);
  }
  return argv.slice(1, -2);
}

export async function startLikeNpmStart(edit: (config: Obj) => void = () => undefined): Promise<NpmStarted> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-npm-start-'));
  await mkdir(join(dir, 'conf'));
  const config = parse(await readFile(join(ROOT, 'conf', 'config.yaml'), 'utf8')) as Obj;
  const echoPort = await freePort();
  const documentedEcho = { ...(config.examples.echo_upstream.listen as { host: string; port: number }) };
  const documentedMetrics = { ...(config.prometheus.export.listen as { host: string; port: number }) };
  for (const l of config.node.listen as Obj[]) { l.host = '127.0.0.1'; l.port = 0; }
  config.admin.listen.port = 0;
  config.prometheus.export.listen.port = 0;
  config.examples.echo_upstream.listen.port = echoPort;
  config.node.workers = 2;
  edit(config);
  // config.yaml's relative paths (../data, gatehouse.yaml) keep their meaning in the copy
  await writeFile(join(dir, 'conf', 'config.yaml'), stringify(config));
  const seed = await readFile(join(ROOT, 'conf', String(config.store.sqlite.seed)), 'utf8');
  const echoAddr = `${documentedEcho.host}:${documentedEcho.port}`;
  if (!seed.includes(echoAddr)) throw new Error(`the seed file no longer uses the echo upstream ${echoAddr}`);
  await writeFile(join(dir, 'conf', String(config.store.sqlite.seed)), seed.split(echoAddr).join(`127.0.0.1:${echoPort}`));

  // package.json's script path is relative to the repository; the copies are in `dir`
  const [script, ...args] = await npmStartArgs();
  const proc = spawn(process.execPath, [join(ROOT, script!), ...args, '-c', 'conf/config.yaml'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  proc.stderr!.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const started = await new Promise<Obj>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`gateway did not start; output:\n${out}`)), 20_000);
    const check = (): void => {
      const line = out.split('\n').find((l) => l.includes('gatehouse started'));
      if (line !== undefined) { clearTimeout(timer); res(JSON.parse(line) as Obj); }
    };
    proc.stdout!.on('data', check);
    proc.once('exit', () => { clearTimeout(timer); rej(new Error(`gateway exited; output:\n${out}`)); });
  }).catch(async (err: unknown) => {
    // a gateway that did not start in time must not outlive the test
    proc.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  const gatewayPort = (started.listen as { port: number; tls: boolean }[]).find((l) => !l.tls)!.port;
  const adminPort = (started.admin as { port: number }).port;
  const metricsPort = (started.prometheus as { port: number } | undefined)?.port;
  return {
    dir, proc, gatewayPort, adminPort, echoPort,
    addresses: {
      '127.0.0.1:9080': `127.0.0.1:${gatewayPort}`,
      '127.0.0.1:9180': `127.0.0.1:${adminPort}`,
      [echoAddr]: `127.0.0.1:${echoPort}`,
      ...(metricsPort !== undefined ? { [`${documentedMetrics.host}:${documentedMetrics.port}`]: `127.0.0.1:${metricsPort}` } : {}),
    },
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGUSR2');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
