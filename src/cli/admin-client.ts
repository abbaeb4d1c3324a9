// The Admin API as the CLI's commands reach it (`gatehouse plugin …`, `gatehouse cluster …`):
// where it is and which key to send, one JSON request, and a plain-text table.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import { urlHost } from '../core/host-port.js';

/** The Admin API answered with an error (its error_msg), or could not be reached. */
export class RequestError extends Error {}

export interface AdminTarget {
  base: URL;
  key: string;
  json(method: string, path: string, body?: unknown): Promise<any>;
}

/** Where the Admin API is and which key to send: options, then environment, then the node config. */
export async function adminTarget(options: ReadonlyMap<string, string>, env: NodeJS.ProcessEnv): Promise<AdminTarget> {
  let admin = options.get('--admin');
  let key = options.get('--key') ?? (env.GATEHOUSE_ADMIN_KEY || undefined);
  if (admin === undefined || key === undefined) {
    const { loadNodeConfig } = await import('../core/node-config.js');
    const config = await loadNodeConfig(resolve(options.get('-c') ?? 'conf/config.yaml'));
    if (admin === undefined) {
      const { host, port, tls } = config.admin.listen;
      const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : urlHost(host);
      admin = `${tls === true ? 'https' : 'http'}://${reachable}:${port}`;
    }
    if (key === undefined) {
      key = config.admin.keys.find((k) => (k.role ?? 'admin') === 'admin')?.key;
      if (key === undefined && config.admin.keys.length === 0) {
        try {
          key = readFileSync(join(config.data_dir, 'admin.key'), 'utf8').trim();
        } catch {
          throw new Error(`no Admin API key: pass --key or set GATEHOUSE_ADMIN_KEY (no admin key in ${config.file} nor ${join(config.data_dir, 'admin.key')})`);
        }
      }
      if (key === undefined) throw new Error(`no Admin API key: pass --key or set GATEHOUSE_ADMIN_KEY (${config.file} has only viewer keys)`);
    }
  }
  const base = new URL(admin.replace(/\/+$/, '').replace(/\/apisix\/admin$/, '') + '/apisix/admin');
  const target: AdminTarget = {
    base, key,
    json: async (method, path, body) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string | number> = { 'x-api-key': key! };
      if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': payload.length });
      return send(target, method, path, headers, (req) => req.end(payload));
    },
  };
  return target;
}

/** One request; resolves the parsed JSON answer of a 2xx, rejects with the server's error_msg otherwise. */
export function send(target: AdminTarget, method: string, path: string, headers: Record<string, string | number>,
  write: (req: http.ClientRequest) => void): Promise<any> {
  const url = new URL(target.base.href + path);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolvePromise, reject) => {
    const req = lib.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: any;
        try {
          body = text === '' ? undefined : JSON.parse(text);
        } catch {
          body = undefined;
        }
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolvePromise(body);
        else reject(new RequestError(`${status} ${body?.error_msg ?? (text.trim() || res.statusMessage)}${body?.description ? ` (${body.description})` : ''}`));
      });
    });
    req.on('error', (e) => reject(new RequestError(`cannot reach the Admin API at ${target.base.origin}: ${e.message}`)));
    write(req);
  });
}

/** Rows of cells as aligned columns (the first row is the header). */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n') + '\n';
}
