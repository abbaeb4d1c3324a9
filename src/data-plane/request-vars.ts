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

  get(name: string): unknown {
    if (this.overrides !== undefined && this.overrides.has(name)) return this.overrides.get(name);
    const f = this.facts;
    switch (name) {
      case 'uri': return f.path;
      case 'request_uri': return f.req.url;
      case 'host': return f.host;
      case 'request_method':
      case 'method': return f.req.method;
      case 'remote_addr': return f.remoteAddr;
      case 'remote_port': return f.req.socket.remotePort;
      case 'server_port': return f.serverPort;
      case 'server_addr': return f.req.socket.localAddress;
      case 'scheme': return f.scheme;
      case 'args':
      case 'query_string': return f.query;
      case 'is_args': return f.query === '' ? '' : '?';
      case 'http_host': return f.req.headers.host;
      case 'server_protocol': return `HTTP/${f.req.httpVersion}`;
      case 'content_type': return f.req.headers['content-type'];
      case 'content_length': return f.req.headers['content-length'];
      case 'route_id': return f.routeId;
      case 'route_name': return f.routeName;
      case 'service_id': return f.serviceId;
      case 'service_name': return f.serviceName;
      case 'consumer_name': return f.consumerName;
      case 'ssl_server_name': return (f.req.socket as TLSSocket).servername || undefined;
    }
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
