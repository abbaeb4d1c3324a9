import { randomBytes } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { TLSSocket } from 'node:tls';
import type { HttpRequest } from './http1/request.js';
import { matchTimeOwnerOf, REQUEST_VARIABLES } from '../core/expr/variables.js';
import type { MatchTimeRequest, MatchTimeResolver } from '../contracts/plugin.js';
import { proxyAddressesOf } from './http1/proxy-protocol.js';
import { graphqlQuery, parseGraphqlFacts, parsePostArgs, postArg, postArgPath, type GraphqlFacts, type PostArgs } from './body-vars.js';
import { isoLocal, nginxLocal } from './clock-vars.js';

// nginx/APISIX request variables, resolved lazily: most requests never read one, so
// nothing is parsed (query, cookies, body) until a rule or a plugin asks for it. The
// names are core/expr/variables.ts's REQUEST_VARIABLES (the registry the write-time
// checks use); the ones known only after the upstream answered are in
// observability/request-facts.ts.

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

type Resolver = (f: RequestFacts, v: RequestVars) => unknown;

/** The snapshot's match-time resolvers, by the plugin whose metadata configured them. */
export type MatchTimeResolvers = ReadonlyMap<string, MatchTimeResolver>;

const HOSTNAME = osHostname();

function tlsSocket(f: RequestFacts): TLSSocket | undefined {
  const s = f.req.socket as Partial<TLSSocket> | undefined;
  return s !== undefined && s !== null && s.encrypted === true ? (s as TLSSocket) : undefined;
}

/** nginx `remote_user`: the user name of Basic credentials. */
function basicUser(f: RequestFacts): string | undefined {
  const auth = f.req.headers.authorization;
  if (typeof auth !== 'string' || !/^basic /i.test(auth)) return undefined;
  const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(0, colon);
}

/** nginx `binary_remote_addr`: the address as 4 or 16 bytes (a latin1 string of them). */
function binaryAddress(ip: string): string | undefined {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return String.fromCharCode(...ip.split('.').map(Number));
  if (!ip.includes(':')) return undefined;
  const [head, tail = ''] = ip.split('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const h = groups(head!);
  const t = groups(tail);
  const all = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  if (all.length !== 8) return undefined;
  return all.map((g) => { const n = parseInt(g, 16); return String.fromCharCode(n >> 8, n & 0xff); }).join('');
}

function httpVersion(f: RequestFacts): string {
  return `HTTP/${f.req.httpVersion}`;
}

/** nginx/APISIX variables computed from the request's facts, by name (one hash lookup, whatever the name). */
const RESOLVERS: ReadonlyMap<string, Resolver> = new Map<string, Resolver>([
  ['uri', (f) => f.path],
  ['document_uri', (f) => f.path],
  ['request_uri', (f) => f.req.url],
  ['real_request_uri', (f) => f.req.url],
  ['request', (f) => `${f.req.method} ${f.req.url} ${httpVersion(f)}`],
  ['request_line', (f) => `${f.req.method} ${f.req.url} ${httpVersion(f)}`],
  ['request_method', (f) => f.req.method],
  ['method', (f) => f.req.method],
  ['scheme', (f) => f.scheme],
  ['https', (f) => (f.scheme === 'https' ? 'on' : '')],
  ['server_protocol', httpVersion],
  ['args', (f) => f.query],
  ['query_string', (f) => f.query],
  ['is_args', (f) => (f.query === '' ? '' : '?')],
  ['host', (f) => f.host],
  ['hostname', () => HOSTNAME],
  ['http_host', (f) => f.req.headers.host],
  // APISIX's single server block is `server_name _`
  ['server_name', () => '_'],
  ['remote_addr', (f) => f.remoteAddr],
  ['remote_port', (f) => f.req.socket?.remotePort],
  ['remote_user', basicUser],
  ['binary_remote_addr', (f) => binaryAddress(f.remoteAddr)],
  // the peer before real-ip replaced remote_addr
  ['realip_remote_addr', (f) => f.req.remoteAddr ?? f.remoteAddr],
  ['realip_remote_port', (f) => f.req.socket?.remotePort],
  ['server_addr', (f) => f.req.socket?.localAddress],
  ['server_port', (f) => f.serverPort],
  ['connection', (f) => f.req.connectionSerial || undefined],
  ['connection_requests', (f) => f.req.connectionRequests || undefined],
  ['connection_time', (f) => (f.req.connectionAcceptedAt ? (Date.now() - f.req.connectionAcceptedAt) / 1000 : undefined)],
  ['proxy_protocol_addr', (f) => proxyAddressesOf(f.req.socket)?.sourceAddr],
  ['proxy_protocol_port', (f) => proxyAddressesOf(f.req.socket)?.sourcePort],
  ['proxy_protocol_server_addr', (f) => proxyAddressesOf(f.req.socket)?.destAddr],
  ['proxy_protocol_server_port', (f) => proxyAddressesOf(f.req.socket)?.destPort],
  ['pid', () => process.pid],
  ['msec', () => Date.now() / 1000],
  ['time_iso8601', () => isoLocal(new Date())],
  ['time_local', () => nginxLocal(new Date())],
  ['content_type', (f) => f.req.headers['content-type']],
  ['content_length', (f) => f.req.headers['content-length']],
  ['cookie', (f) => f.req.headers.cookie],
  ['request_id', (_f, v) => v.requestId()],
  ['request_body', (_f, v) => v.body?.toString('utf8')],
  ['graphql_operation', (_f, v) => v.graphql()?.operation],
  ['graphql_name', (_f, v) => v.graphql()?.name],
  ['graphql_root_fields', (_f, v) => v.graphql()?.rootFields],
  ['ssl_server_name', (f) => tlsSocket(f)?.servername || undefined],
  ['ssl_protocol', (f) => tlsSocket(f)?.getProtocol() ?? undefined],
  ['ssl_cipher', (f) => tlsSocket(f)?.getCipher()?.standardName],
  ['ssl_session_reused', (f) => { const s = tlsSocket(f); return s === undefined ? undefined : s.isSessionReused() ? 'r' : '.'; }],
  // no client certificate is asked for
  ['ssl_client_verify', (f) => (tlsSocket(f) === undefined ? undefined : 'NONE')],
  ['route_id', (f) => f.routeId],
  ['route_name', (f) => f.routeName],
  ['service_id', (f) => f.serviceId],
  ['service_name', (f) => f.serviceName],
  ['consumer_name', (f) => f.consumerName],
  // set with the consumer (PluginRun.attachConsumer)
  ['consumer_group_id', () => undefined],
]);

for (const name of REQUEST_VARIABLES) {
  if (!RESOLVERS.has(name)) throw new Error(`request variable ${name} is registered but has no resolver`);
}

export class RequestVars implements MatchTimeRequest {
  private args: Map<string, string> | undefined;
  private cookies: Map<string, string> | undefined;
  /** Values set by plugins or the proxy (`upstream_uri`, `status`, …) win over computed ones. */
  private overrides: Map<string, unknown> | undefined;
  private requestIdValue: string | undefined;
  private bodyBuffer: Buffer | undefined;
  private postArgs: PostArgs | null = null;
  private graphqlFacts: GraphqlFacts | undefined | null = null;
  private memos: Map<object, unknown> | undefined;

  constructor(readonly facts: RequestFacts, private readonly matchTime?: MatchTimeResolvers) {}

  /**
   * The request body, once the lifecycle has read it (undefined until then, and for a
   * request whose body was streamed instead): what the body variables read.
   */
  get body(): Buffer | undefined {
    return this.bodyBuffer;
  }

  set body(body: Buffer | undefined) {
    this.bodyBuffer = body;
    this.postArgs = null;
    this.graphqlFacts = null;
  }

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
    if (resolve !== undefined) return resolve(f, this);
    if (name.startsWith('http_')) {
      const v = f.req.headers[name.slice(5).toLowerCase().replace(/_/g, '-')];
      return Array.isArray(v) ? v.join(', ') : v;
    }
    if (name.startsWith('arg_')) return this.arg(name.slice(4));
    if (name.startsWith('cookie_')) return this.cookie(name.slice(7));
    if (name.startsWith('uri_param_')) return f.uriParams?.[name.slice(10)];
    if (name.startsWith('post_arg_')) return postArg(this.parsedPostArgs(), name.slice(9));
    if (name.startsWith('post_arg.')) return postArgPath(this.parsedPostArgs(), name.slice(9));
    // a plugin's variable read before (or without) the plugin setting it
    if (this.matchTime !== undefined) {
      const owner = matchTimeOwnerOf(name);
      if (owner !== undefined) return this.matchTime.get(owner)?.(name, this);
    }
    return undefined;
  }

  header(name: string): string | undefined {
    const v = this.facts.req.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  memo<T>(key: object, make: () => T): T {
    const memos = (this.memos ??= new Map());
    if (memos.has(key)) return memos.get(key) as T;
    const value = make();
    memos.set(key, value);
    return value;
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

  /** nginx `request_id`: 32 hex digits, made on first read and kept for the request. */
  requestId(): string {
    return (this.requestIdValue ??= randomBytes(16).toString('hex'));
  }

  /** The request's GraphQL operation (GET `query` argument or POST body), parsed on first use. */
  graphql(): GraphqlFacts | undefined {
    if (this.graphqlFacts === null) {
      const req = this.facts.req;
      this.graphqlFacts = parseGraphqlFacts(graphqlQuery(req.method, this.arg('query'), this.bodyBuffer, req.headers['content-type']));
    }
    return this.graphqlFacts;
  }

  private parsedPostArgs(): PostArgs {
    if (this.postArgs === null) {
      this.postArgs = this.bodyBuffer === undefined ? undefined : parsePostArgs(this.bodyBuffer, this.facts.req.headers['content-type']);
    }
    return this.postArgs;
  }
}
