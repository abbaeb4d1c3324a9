import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { VERSION } from '../core/version.js';

const USAGE = `gatehouse ${VERSION}

Usage: gatehouse <command> [arguments] [-c conf/config.yaml]

Commands:
  start     run the gateway in the foreground
  check     validate the node config and the configuration it points at, then exit
  reload    re-read the config files of a running gateway (SIGHUP)
  quit      drain in-flight requests, then stop a running gateway (SIGTERM)
  stop      stop a running gateway at once
  config    export | import FILE | diff FILE: the store's configuration as an APISIX standalone file
  plugin    check FILE.wasm | publish FILE.wasm | list | versions | enable | disable | rollback | delete: custom (wasm) plugins
  cluster   status: the gateway nodes sharing the configuration, their versions and applied revisions
  version   print the version
`;

interface Args { command: string; config: string; rest: string[] }

function parseArgs(argv: string[]): Args {
  let help = false;
  const positional: string[] = [];
  let config = 'conf/config.yaml';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-c' || a === '--config') {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a file`);
      config = v;
    } else if (a.startsWith('--config=')) config = a.slice(9);
    else if (a === '-h' || a === '--help') help = true;
    else if (!a.startsWith('-')) positional.push(a);
    else throw new Error(`unknown option ${a}`);
  }
  const [command = 'help', ...rest] = help ? ['help'] : positional;
  // only `config` takes arguments after the command
  if (command !== 'config' && rest.length > 0) throw new Error(`unexpected argument "${rest[0]}"`);
  return { command, config: resolve(config), rest };
}

async function signalRunning(configFile: string, signal: NodeJS.Signals): Promise<number> {
  const { loadNodeConfig } = await import('../core/node-config.js');
  const config = await loadNodeConfig(configFile);
  const pidFile = join(config.data_dir, 'gatehouse.pid');
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    process.stderr.write(`gatehouse is not running (no pid file at ${pidFile})\n`);
    return 1;
  }
  try {
    process.kill(pid, signal);
  } catch (err) {
    process.stderr.write(`cannot signal gatehouse (pid ${pid}): ${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}

export async function main(argv: string[]): Promise<void> {
  // `plugin` has options of its own (--id, --stage, ...), so it parses its arguments itself
  if (argv[0] === 'plugin') {
    const { pluginCommand } = await import('./plugin-command.js');
    process.exitCode = await pluginCommand(argv.slice(1));
    return;
  }
  if (argv[0] === 'cluster') {
    const { clusterCommand } = await import('./cluster-command.js');
    process.exitCode = await clusterCommand(argv.slice(1), (t) => process.stdout.write(t), (t) => process.stderr.write(t));
    return;
  }
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  try {
    switch (args.command) {
      case 'start': {
        if (!cluster.isPrimary) return;
        const { Primary } = await import('../process/primary.js');
        await Primary.start(args.config);
        return;
      }
      case 'check': {
        const { checkConfig } = await import('./check.js');
        process.exit(await checkConfig(args.config));
        return;
      }
      case 'config': {
        const { configCommand } = await import('./config-command.js');
        // exitCode, not exit(): a large export to a pipe must be flushed before the process ends
        process.exitCode = await configCommand(args.config, args.rest);
        return;
      }
      case 'reload': process.exit(await signalRunning(args.config, 'SIGHUP')); return;
      case 'quit': process.exit(await signalRunning(args.config, 'SIGTERM')); return;
      case 'stop': process.exit(await signalRunning(args.config, 'SIGUSR2')); return;
      case 'version': process.stdout.write(`${VERSION}\n`); return;
      case 'help': process.stdout.write(USAGE); return;
      default:
        process.stderr.write(`unknown command "${args.command}"\n\n${USAGE}`);
        process.exit(2);
    }
  } catch (err) {
    process.stderr.write(`gatehouse: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
