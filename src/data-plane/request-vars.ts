import type { HttpRequest } from './http1/request.js';
import type { TLSSocket } from 'node:tls';

// nginx/APISIX request variables, resolved lazily: most requests never read one, so
// nothing is parsed (query, cookies) until a rule or a balancer asks for it.

export interface RequestFacts {
  req: HttpRequest;
  /** Decoded, normalised path (nginx `uri`). */
  path: string;
  /** Raw query string without `?`, '' when absent. */
  query: string;
  host: string;
  remoteAddr: string;
  serverPort: number;
  scheme: 'http' | 'https';
  routeId?: string;
  routeName?: string;
  serviceId?: string;
  serviceName?: string;
  consumerName?: string;
  uriParams?: Record<string, string>;
}

type Resolver = (f: RequestFacts) => unknown;

/** nginx/APISIX variables computed from the request's facts, by name (one hash lookup, whatever the name). */
const RESOLVERS: ReadonlyMap<string, Resolver> = new Map<string, Resolver>([
  ['uri', (f) => f.path],
  ['request_uri', (f) => f.req.url],
  ['host', (f) => f.host],
  ['request_method', (f) => f.req.method],
  ['method', (f) => f.req.method],
  ['remote_addr', (f) => f.remoteAddr],
  ['remote_port', (f) => f.req.socket.remotePort],
  ['server_port', (f) => f.serverPort],
  ['server_addr', (f) => f.req.socket.localAddress],
  ['scheme', (f) => f.scheme],
  ['args', (f) => f.query],
  ['query_string', (f) => f.query],
  ['is_args', (f) => f.query === '' ? '' : '?'],
  ['http_host', (f) => f.req.headers.host],
  ['server_protocol', (f) => `HTTP/${f.req.httpVersion}`],
  ['content_type', (f) => f.req.headers['content-type']],
  ['content_length', (f) => f.req.headers['content-length']],
  ['route_id', (f) => f.routeId],
  ['route_name', (f) => f.routeName],
  ['service_id', (f) => f.serviceId],
  ['service_name', (f) => f.serviceName],
  ['consumer_name', (f) => f.consumerName],
  ['ssl_server_name', (f) => (f.req.socket as TLSSocket).servername || undefined],
  // nginx's $pid: the worker serving the request (serverless functions have no `process`)
  ['pid', () => process.pid],
]);

export class RequestVars {
  private args: Map<string, string> | undefined;
  private cookies: Map<string, string> | undefined;
  /** Values set by plugins or the proxy (`upstream_uri`, `status`, …) win over computed ones. */
  private overrides: Map<string, unknown> | undefined;

  constructor(readonly facts: RequestFacts) {}

  /** A standalone function for compiled expressions, made on first use only. */
  get lookup(): (name: string) => unknown {
    return (this.boundLookup ??= (name: string): unknown => this.get(name));
  }

  private boundLookup: ((name: string) => unknown) | undefined;

  set(name: string, value: unknown): void {
    (this.overrides ??= new Map()).set(name, value);
  }

  /** Some variable was set (by a plugin or the proxy): `get` must look there first. */
  get hasOverrides(): boolean {
    return this.overrides !== undefined;
  }

  get(name: string): unknown {
    if (this.overrides !== undefined && this.overrides.has(name)) return this.overrides.get(name);
    const f = this.facts;
    const resolve = RESOLVERS.get(name);
    if (resolve !== undefined) return resolve(f);
    if (name.startsWith('http_')) {
      const v = f.req.headers[name.slice(5).replace(/_/g, '-')];
      return Array.isArray(v) ? v.join(', ') : v;
    }
    if (name.startsWith('arg_')) return this.arg(name.slice(4));
    if (name.startsWith('cookie_')) return this.cookie(name.slice(7));
    if (name.startsWith('uri_param_')) return f.uriParams?.[name.slice(10)];
    return undefined;
  }

  arg(key: string): string | undefined {
    if (this.args === undefined) {
      this.args = new Map();
      if (this.facts.query !== '') {
        for (const [k, v] of new URLSearchParams(this.facts.query)) if (!this.args.has(k)) this.args.set(k, v);
      }
    }
    return this.args.get(key);
  }

  cookie(key: string): string | undefined {
    if (this.cookies === undefined) {
      this.cookies = new Map();
      const raw = this.facts.req.headers.cookie;
      if (raw !== undefined) {
        for (const part of raw.split(';')) {
          const eq = part.indexOf('=');
          if (eq <= 0) continue;
          const k = part.slice(0, eq).trim();
          if (!this.cookies.has(k)) this.cookies.set(k, part.slice(eq + 1).trim());
        }
      }
    }
    return this.cookies.get(key);
  }
}
