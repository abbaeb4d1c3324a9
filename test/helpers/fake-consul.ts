// A local server speaking the part of Consul's HTTP API the consul discovery uses, as
// Consul documents it: `GET /v1/health/service/<name>` (`passing` filters to instances
// whose checks pass) with blocking queries: with `?index=N` the request is held while the
// service's modify index is still <= N, up to `wait` (`10s`, `1m`; Consul's default 5m),
// and every answer carries `X-Consul-Index`. `token` makes it refuse requests without
// that `X-Consul-Token` (403, as Consul's ACLs). Not Consul itself: the gateway has not
// been tried against a real one. Every request is recorded.
import type http from 'node:http';
import { LocalHttpServer } from './discovery.js';

export interface ConsulInstance {
  address: string;
  port: number;
  /** The node's address (used when the service has none). */
  nodeAddress?: string;
  passing?: boolean;
  meta?: Record<string, string>;
}

export interface ConsulRequest {
  path: string;
  query: URLSearchParams;
  token: string | undefined;
  /** When it was answered (ms since epoch). */
  answeredAt: number;
  /** The `X-Consul-Index` it was answered with. */
  answeredIndex?: number;
}

export class FakeConsul extends LocalHttpServer {
  readonly requests: ConsulRequest[] = [];
  token: string | undefined;
  /** Set: requests are taken and never answered (a server that hangs). */
  silent = false;
  /** When each unanswered request arrived (ms since epoch). */
  readonly silencedAt: number[] = [];
  private readonly services = new Map<string, { index: number; instances: ConsulInstance[] }>();
  private index = 1;
  private readonly waiting = new Set<() => void>();

  /** Registers a service's instances (replacing the previous ones): its modify index moves on. */
  set(name: string, instances: ConsulInstance[]): void {
    this.services.set(name, { index: ++this.index, instances });
    for (const wake of [...this.waiting]) wake();
  }

  /** Forgets everything, the index included (a server replaced by a new one). */
  reset(): void {
    this.services.clear();
    this.index = 1;
  }

  protected override stopping(): void {
    for (const wake of [...this.waiting]) wake();
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    void this.answer(req, res);
  }

  private async answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.silent) {
      this.silencedAt.push(Date.now());
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const token = req.headers['x-consul-token'] as string | undefined;
    const m = /^\/v1\/health\/service\/([^/]+)$/.exec(url.pathname);
    if (m === null || req.method !== 'GET') {
      res.writeHead(404).end('not found');
      return;
    }
    if (this.token !== undefined && token !== this.token) {
      this.requests.push({ path: url.pathname, query: url.searchParams, token, answeredAt: Date.now() });
      res.writeHead(403).end('ACL not found');
      return;
    }
    const name = decodeURIComponent(m[1]!);
    const asked = url.searchParams.get('index');
    if (asked !== null) {
      const deadline = Date.now() + waitMs(url.searchParams.get('wait'));
      while ((this.services.get(name)?.index ?? this.index) <= Number(asked) && Date.now() < deadline && this.running) {
        await new Promise<void>((resolve) => {
          const wake = (): void => { clearTimeout(timer); this.waiting.delete(wake); resolve(); };
          const timer = setTimeout(wake, Math.max(0, deadline - Date.now()));
          this.waiting.add(wake);
        });
      }
      if (!this.running) return;
    }
    const svc = this.services.get(name);
    this.requests.push({ path: url.pathname, query: url.searchParams, token, answeredAt: Date.now(), answeredIndex: svc?.index ?? this.index });
    const passingOnly = url.searchParams.has('passing');
    const body = (svc?.instances ?? []).filter((i) => !passingOnly || i.passing !== false).map((i) => ({
      Node: { Node: 'node-1', Address: i.nodeAddress ?? '127.0.0.1' },
      Service: { ID: `${name}-${i.address}-${i.port}`, Service: name, Address: i.address, Port: i.port, Meta: i.meta ?? null },
      Checks: [{ Status: i.passing === false ? 'critical' : 'passing' }],
    }));
    const text = JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json', 'x-consul-index': String(svc?.index ?? this.index), 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
}

/** `10s`, `1m`, `500ms`; Consul's default is 5 minutes. */
function waitMs(wait: string | null): number {
  const m = /^(\d+)(ms|s|m)$/.exec(wait ?? '');
  if (m === null) return 300_000;
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
}

export async function startFakeConsul(): Promise<FakeConsul> {
  const consul = new FakeConsul();
  await consul.start();
  return consul;
}
