// A local server speaking the part of Nacos's v1 open API the nacos discovery uses, as
// Nacos documents it: `POST /nacos/v1/auth/login` (username and password as form or query
// parameters; answers `{accessToken, tokenTtl}`), and `GET /nacos/v1/ns/instance/list`
// (`serviceName`, `namespaceId` default `public`, `groupName` default `DEFAULT_GROUP`,
// `healthyOnly`; answers `{name, hosts: [...]}`; 403 without a valid `accessToken` when
// `users` is set). With `accessKey`/`secretKey` it checks the ACM-style signature (`ak`,
// `data`, `signature` = base64 HMAC-SHA1 of data). Not Nacos itself: the gateway has not
// been tried against a real one. Every request is recorded.
import { createHmac } from 'node:crypto';
import type http from 'node:http';
import { LocalHttpServer } from './discovery.js';

export interface NacosInstance {
  ip: string;
  port: number;
  /** null: the answer carries no weight (default 1.0). */
  weight?: number | null;
  healthy?: boolean;
  enabled?: boolean;
  metadata?: Record<string, string>;
}

export interface NacosRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** The form body of a login. */
  form: URLSearchParams;
}

export class FakeNacos extends LocalHttpServer {
  readonly requests: NacosRequest[] = [];
  /** username → password; set: every list request needs a token from a login. */
  users: Record<string, string> | undefined;
  accessKey: string | undefined;
  secretKey: string | undefined;
  /**
   * `silent`: list requests are taken and never answered; `dribble`: answered with a head
   * and then a space every 100 ms, never ending (a registry too slow to finish).
   */
  stall: 'silent' | 'dribble' | undefined;
  /** When each stalled request arrived (ms since epoch). */
  readonly stalledAt: number[] = [];
  private readonly instances = new Map<string, NacosInstance[]>();
  private readonly tokens = new Set<string>();

  set(service: string, instances: NacosInstance[], namespace = 'public', group = 'DEFAULT_GROUP'): void {
    this.instances.set(`${namespace}|${group}|${service}`, instances);
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => this.answer(req, Buffer.concat(chunks).toString(), res));
  }

  private answer(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const form = new URLSearchParams(body);
    this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, form });
    const json = (status: number, value: unknown): void => {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      res.writeHead(status, { 'content-type': typeof value === 'string' ? 'text/plain' : 'application/json' }).end(text);
    };
    if (url.pathname === '/nacos/v1/auth/login' && req.method === 'POST') {
      const user = form.get('username') ?? url.searchParams.get('username');
      const password = form.get('password') ?? url.searchParams.get('password');
      if (this.users === undefined || user === null || this.users[user] !== password) return json(403, 'unknown user!');
      const token = `token-${this.tokens.size + 1}`;
      this.tokens.add(token);
      return json(200, { accessToken: token, tokenTtl: 18000, globalAdmin: false });
    }
    if (url.pathname !== '/nacos/v1/ns/instance/list' || req.method !== 'GET') return json(404, 'not found');
    if (this.stall !== undefined) return this.stallAnswer(res, this.stall);
    const q = url.searchParams;
    if (this.users !== undefined && !this.tokens.has(q.get('accessToken') ?? '')) return json(403, 'user not found!');
    if (this.accessKey !== undefined) {
      const expected = createHmac('sha1', this.secretKey ?? '').update(q.get('data') ?? '').digest('base64');
      if (q.get('ak') !== this.accessKey || q.get('signature') !== expected) return json(403, 'signature mismatch');
    }
    const service = q.get('serviceName');
    if (service === null) return json(400, 'Param \'serviceName\' is required');
    const namespace = q.get('namespaceId') ?? 'public';
    const group = q.get('groupName') ?? 'DEFAULT_GROUP';
    const healthyOnly = q.get('healthyOnly') === 'true';
    const hosts = (this.instances.get(`${namespace}|${group}|${service}`) ?? [])
      .filter((i) => !healthyOnly || i.healthy !== false)
      .map((i) => ({ ip: i.ip, port: i.port, ...(i.weight === null ? {} : { weight: i.weight ?? 1.0 }), healthy: i.healthy ?? true, enabled: i.enabled ?? true, ephemeral: true, metadata: i.metadata ?? {} }));
    return json(200, { name: `${group}@@${service}`, groupName: group, clusters: '', cacheMillis: 10000, hosts });
  }

  private stallAnswer(res: http.ServerResponse, how: 'silent' | 'dribble'): void {
    this.stalledAt.push(Date.now());
    if (how === 'silent') return;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"hosts": [');
    // bounded: the client gives up well before, and a stop cuts the connection
    let left = 600;
    const timer = setInterval(() => {
      if (--left <= 0 || res.destroyed) clearInterval(timer);
      else res.write(' ');
    }, 100);
    timer.unref();
    res.on('close', () => clearInterval(timer));
  }
}

export async function startFakeNacos(): Promise<FakeNacos> {
  const nacos = new FakeNacos();
  await nacos.start();
  return nacos;
}
