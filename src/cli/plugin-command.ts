// `gatehouse plugin publish|import|list|versions|enable|disable|rollback|delete`: the plugin
// marketplace from the command line, through the Admin API of a running gateway.
// (`plugin check`, which runs a module locally, is the wasm host's.)
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { adminTarget, send, table, type AdminTarget } from './admin-client.js';

export const PLUGIN_USAGE = `Usage: gatehouse plugin <subcommand> [arguments] [--admin URL] [--key KEY] [-c conf/config.yaml]

Subcommands:
  check FILE.wasm [--config JSON] [--root-id ID] [--method M] [--path P] [--header "k: v"] [--body TEXT] [--json]
                         load the plugin as the gateway would and run a sample request through it (no gateway needed)
  publish FILE.wasm --id ID --stage STAGE --priority N [--name NAME] [--version V]
          [--version-description TEXT] [--description TEXT] [--language LANG] [--root-id ID]
          [--gateway-version any|X.Y.Z] [--fail-strategy FAIL_CLOSE|FAIL_OPEN]
          [--configuration JSON] [--disabled]
                         upload a plugin, or a new version of a disabled one
  import FILE.yaml       import the Higress WasmPlugin resources of the file (file:// urls read
                         here, relative to the file) with their config as a global rule
  list                   the custom plugins
  versions ID            the published versions of a plugin (* = serving)
  enable ID | disable ID
  rollback ID VERSION    serve another published version (allowed while enabled)
  delete ID [--force]    delete a disabled plugin (--force: even while routes still name it)

The Admin API is --admin (default: admin.listen of the node config), the key --key, else
GATEHOUSE_ADMIN_KEY, else the first admin key of the node config (or the generated one).
`;

export interface PluginCommandIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

const PROCESS_IO: PluginCommandIo = {
  stdout: (t) => { process.stdout.write(t); },
  stderr: (t) => { process.stderr.write(t); },
};

class UsageError extends Error {}

const VALUE_OPTIONS = new Set(['--admin', '--key', '-c', '--config', '--id', '--stage', '--priority', '--name', '--version',
  '--version-description', '--description', '--language', '--root-id', '--gateway-version', '--fail-strategy', '--configuration']);
const FLAG_OPTIONS = new Set(['--disabled', '--force']);

interface Parsed { positional: string[]; options: Map<string, string>; flags: Set<string> }

function parse(argv: string[]): Parsed {
  const out: Parsed = { positional: [], options: new Map(), flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq === -1 ? a : a.slice(0, eq);
    if (VALUE_OPTIONS.has(name)) {
      const v = eq === -1 ? argv[++i] : a.slice(eq + 1);
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      out.options.set(name === '--config' ? '-c' : name, v);
    } else if (FLAG_OPTIONS.has(a)) out.flags.add(a);
    else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
    else out.positional.push(a);
  }
  return out;
}

/** Runs one subcommand; returns the exit code (0 done, 1 refused or failed, 2 usage). */
export async function pluginCommand(argv: string[], io: PluginCommandIo = PROCESS_IO, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // `check` runs locally (no Admin API): it has its own options
  if (argv[0] === 'check') {
    try {
      const { runPluginCheck } = await import('./plugin-check.js');
      return await runPluginCheck(argv.slice(1), io.stdout);
    } catch (err) {
      io.stderr(`gatehouse plugin check: ${(err as Error).message}\n`);
      return 2;
    }
  }
  try {
    const args = parse(argv);
    const [sub, ...rest] = args.positional;
    const arity: Record<string, number> = { publish: 1, import: 1, list: 0, versions: 1, enable: 1, disable: 1, rollback: 2, delete: 1 };
    if (sub === undefined || arity[sub] === undefined) throw new UsageError(sub === undefined ? 'plugin needs a subcommand' : `unknown subcommand "${sub}"`);
    if (rest.length !== arity[sub]) throw new UsageError(`plugin ${sub} takes ${arity[sub]} argument(s), got ${rest.length}`);
    const api = await adminTarget(args.options, env);
    switch (sub) {
      case 'publish': return await publish(api, rest[0]!, args, io);
      case 'import': {
        const { importWasmPluginFile } = await import('./plugin-import.js');
        return await importWasmPluginFile(rest[0]!, (body, type) => send(api, 'POST', '/custom_plugins/import',
          { 'x-api-key': api.key, 'content-type': type, 'content-length': body.length }, (req) => req.end(body)), io);
      }
      case 'list': return await list(api, io);
      case 'versions': return await versions(api, rest[0]!, io);
      case 'enable':
      case 'disable': {
        const r = await api.json('PATCH', `/custom_plugins/${encodeURIComponent(rest[0]!)}`, { enabled: sub === 'enable' });
        io.stdout(`${r.value.id} ${sub}d (version ${r.value.version})\n`);
        return 0;
      }
      case 'rollback': {
        const r = await api.json('PATCH', `/custom_plugins/${encodeURIComponent(rest[0]!)}`, { version: rest[1] });
        io.stdout(`${r.value.id} now serves version ${r.value.version}\n`);
        return 0;
      }
      default: {
        const force = args.flags.has('--force') ? '?force=true' : '';
        await api.json('DELETE', `/custom_plugins/${encodeURIComponent(rest[0]!)}${force}`);
        io.stdout(`${rest[0]!} deleted\n`);
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`${err.message}\n\n${PLUGIN_USAGE}`);
      return 2;
    }
    io.stderr(`gatehouse plugin: ${(err as Error).message}\n`);
    return 1;
  }
}

const FORM_OPTIONS: [string, string][] = [
  ['--id', 'id'], ['--stage', 'stage'], ['--priority', 'priority'], ['--name', 'name'], ['--version', 'version'],
  ['--version-description', 'version_description'], ['--description', 'description'], ['--language', 'language'],
  ['--root-id', 'root_id'], ['--gateway-version', 'gateway_version'], ['--fail-strategy', 'fail_strategy'], ['--configuration', 'configuration'],
];

async function publish(api: AdminTarget, file: string, args: Parsed, io: PluginCommandIo): Promise<number> {
  for (const required of ['--id', '--stage', '--priority']) {
    if (!args.options.has(required)) throw new UsageError(`plugin publish needs ${required}`);
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  const fields: [string, string][] = [];
  for (const [opt, field] of FORM_OPTIONS) {
    const v = args.options.get(opt);
    if (v !== undefined) fields.push([field, v]);
  }
  if (args.flags.has('--disabled')) fields.push(['enabled', 'false']);
  const boundary = `----gatehouse${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(fields.map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('')
    + `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${basename(file).replace(/["\r\n]/g, '_')}"\r\n`
    + 'Content-Type: application/wasm\r\n\r\n');
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const total = head.length + bytes.length + tail.length;
  const progress = new ProgressBar(total, io);
  const id = args.options.get('--id')!;
  const headers = { 'x-api-key': api.key, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': total };
  const r = await send(api, 'PUT', `/custom_plugins/${encodeURIComponent(id)}`, headers, (req) => {
    const parts: Buffer[] = [head];
    for (let at = 0; at < bytes.length; at += 256 * 1024) parts.push(bytes.subarray(at, at + 256 * 1024));
    parts.push(tail);
    let i = 0;
    const next = (): void => {
      while (i < parts.length) {
        const part = parts[i++]!;
        const room = req.write(part);
        progress.add(part.length);
        if (!room) { req.once('drain', next); return; }
      }
      progress.done();
      req.end();
    };
    next();
  });
  const v = r.value;
  const current = v.versions.find((x: any) => x.version === v.version);
  io.stdout(`published ${v.id} version ${v.version} (sha256 ${current.sha256}, ${current.size} bytes, ABI ${current.abi}), ${v.enabled ? 'enabled' : 'disabled'}\n`);
  return 0;
}

/** `[##########----------]  1.2/2.4 MB  50%` on stderr, redrawn in place at each whole percent. */
class ProgressBar {
  private sent = 0;
  private shown = -1;
  constructor(private readonly total: number, private readonly io: PluginCommandIo) {}

  add(n: number): void {
    this.sent += n;
    const pct = Math.floor((this.sent / this.total) * 100);
    if (pct === this.shown) return;
    this.shown = pct;
    const width = 30;
    const filled = Math.round((pct / 100) * width);
    const mb = (b: number): string => (b / (1024 * 1024)).toFixed(1);
    this.io.stderr(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${mb(this.sent)}/${mb(this.total)} MB ${String(pct).padStart(3)}%`);
  }

  done(): void {
    this.io.stderr(` (${this.total} bytes sent)\n`);
  }
}

async function list(api: AdminTarget, io: PluginCommandIo): Promise<number> {
  const r = await api.json('GET', '/custom_plugins');
  const rows = [['ID', 'VERSION', 'ENABLED', 'STAGE', 'PRIORITY', 'NAME']];
  for (const e of r.list) rows.push([e.value.id, e.value.version, String(e.value.enabled), e.value.stage, String(e.value.priority), e.value.name]);
  io.stdout(table(rows));
  return 0;
}

async function versions(api: AdminTarget, id: string, io: PluginCommandIo): Promise<number> {
  const r = await api.json('GET', `/custom_plugins/${encodeURIComponent(id)}`);
  const v = r.value;
  const rows = [['', 'VERSION', 'SHA256', 'SIZE', 'ABI', 'PUBLISHED', 'DESCRIPTION']];
  for (const x of v.versions) {
    rows.push([x.version === v.version ? '*' : '', x.version, x.sha256, String(x.size), x.abi,
      new Date(x.created_at * 1000).toISOString(), x.version_description ?? '']);
  }
  io.stdout(table(rows));
  return 0;
}
