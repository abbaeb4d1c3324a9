import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const USAGE = `Usage: gatehouse plugin check FILE.wasm [--config JSON] [--root-id ID] [--method M] [--path /p?q]
                              [--header "name: value"]… [--body TEXT] [--timeout-ms N] [--memory-mb N] [--json]

Loads FILE.wasm exactly as the gateway would (instrumented, linked against the host, started,
configured) and runs one sample request through it against a sample upstream answer. Prints what
the plugin did; exits 1 when the gateway would refuse the plugin or the sample request faults.
`;

/** `gatehouse plugin check …`: returns the exit code. */
export async function runPluginCheck(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  let file: string | undefined;
  let configuration: Record<string, unknown> = {};
  let rootId: string | undefined;
  let json = false;
  const request = { method: 'GET', path: '/', headers: { host: 'example.com', 'user-agent': 'gatehouse-plugin-check' } as Record<string, string>, body: '' };
  let timeoutMs = 500;
  let memoryMb = 256;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--config': {
        const parsed = JSON.parse(value()) as unknown;
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('--config must be a JSON object');
        configuration = parsed as Record<string, unknown>;
        break;
      }
      case '--root-id': rootId = value(); break;
      case '--method': request.method = value().toUpperCase(); break;
      case '--path': request.path = value(); break;
      case '--header': {
        const h = value();
        const c = h.indexOf(':');
        if (c <= 0) throw new Error(`--header "${h}": expected "name: value"`);
        request.headers[h.slice(0, c).trim().toLowerCase()] = h.slice(c + 1).trim();
        break;
      }
      case '--body': request.body = value(); break;
      case '--timeout-ms': timeoutMs = Number(value()); break;
      case '--memory-mb': memoryMb = Number(value()); break;
      case '--json': json = true; break;
      case '-h': case '--help': out(USAGE); return 0;
      default:
        if (a.startsWith('-') || file !== undefined) throw new Error(`unexpected argument "${a}"\n${USAGE}`);
        file = a;
    }
  }
  if (file === undefined) throw new Error(`which .wasm file?\n${USAGE}`);
  if (request.body !== '') request.headers['content-length'] = String(Buffer.byteLength(request.body));
  const bytes = readFileSync(file);
  const { checkPlugin } = await import('../wasm-host/plugin-check.js');
  const report = await checkPlugin(bytes, {
    rootId: rootId ?? basename(file).replace(/\.wasm$/, ''), configuration, request,
    callTimeoutMs: timeoutMs, memoryLimitBytes: memoryMb * 1024 * 1024,
  });
  if (json) {
    out(JSON.stringify(report, null, 2) + '\n');
  } else {
    const lines: string[] = [];
    if (report.module !== undefined) {
      lines.push(`module     ${file}: ${report.module.size} bytes, sha256 ${report.module.sha256}, proxy-wasm ABI ${report.module.abi}`);
    }
    if (report.refused !== undefined) lines.push(`REFUSED    ${report.refused}`);
    for (const c of report.httpCalls) lines.push(`http_call  to cluster "${c.cluster}" (answered 200 "ok" by the check)`);
    if (report.request !== undefined) {
      lines.push(`request    ${request.method} ${request.path}`);
      for (const [k, v] of Object.entries(report.request.headers)) lines.push(`  header   ${k}: ${v === null ? '(removed)' : v}`);
      if (report.request.path !== undefined) lines.push(`  path     → ${report.request.path}`);
      if (report.request.method !== undefined) lines.push(`  method   → ${report.request.method}`);
      if (report.request.authority !== undefined) lines.push(`  host     → ${report.request.authority}`);
      if (report.request.body !== undefined) lines.push(`  body     → ${JSON.stringify(report.request.body)}`);
    }
    if (report.localResponse !== undefined) {
      lines.push(`answered   ${report.localResponse.status} by the plugin (the upstream is not called): ${JSON.stringify(report.localResponse.body)}`);
    }
    if (report.response !== undefined) {
      lines.push(`response   ${report.response.status}`);
      for (const [k, v] of Object.entries(report.response.headers)) lines.push(`  header   ${k}: ${v === null ? '(removed)' : v}`);
      lines.push(`  body     ${JSON.stringify(report.response.body)}`);
    }
    for (const l of report.logs) lines.push(`log        [${l.level}] ${l.msg}`);
    if (report.fault !== undefined) lines.push(`FAULT      ${report.fault}`);
    lines.push(report.refused !== undefined || report.fault !== undefined ? 'result     the gateway would refuse or fail this plugin' : 'result     ok');
    out(lines.join('\n') + '\n');
  }
  return report.refused !== undefined || report.fault !== undefined ? 1 : 0;
}
