// Where a provider request goes: the provider's origin (or `override.endpoint`) as an inline
// upstream the data plane proxies to (built once per configuration, so its connection pool
// and TLS settings are shared by every request), and the path and query per protocol.
import type { AiProtocol, ProviderAdapter } from './provider.js';

export interface TargetOptions {
  /** `override.endpoint`: a full URL; its path replaces the adapter's, its query is added. */
  endpoint?: string;
  /** Per socket operation (connect, send, read), in ms. */
  timeoutMs: number;
  keepalive: boolean;
  keepaliveTimeoutMs: number;
  keepalivePool: number;
  sslVerify: boolean;
  /** `auth.query`: added to every request, over any client argument of the same name. */
  authQuery?: Record<string, string>;
}

export interface ProviderTarget {
  /**
   * The provider as an upstream object (one node; scheme, timeouts, keepalive pool, TLS
   * verification): to be checked with the upstream schema (plugin-runtime's
   * checkedInlineUpstream) once per configuration and given to ctx.setUpstream.
   */
  readonly upstreamConf: Record<string, unknown>;
  /** `scheme://host[:port]`, for messages and logs. */
  readonly origin: string;
  /** The provider's host as its Host header carries it. */
  readonly host: string;
  /** The upstream path and query for `protocol`; `clientUri` is the client's path, `clientQuery` its query (no `?`). */
  pathFor(protocol: AiProtocol, clientUri: string, clientQuery: string): string;
}

/** The target of `adapter` with `opts`; throws an Error naming the field when the endpoint is missing or unusable. */
export function providerTarget(adapter: ProviderAdapter, opts: TargetOptions): ProviderTarget {
  const raw = opts.endpoint ?? adapter.origin;
  if (raw === undefined) throw new Error(`override.endpoint is required for provider ${adapter.name}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`override.endpoint: not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('override.endpoint: the scheme must be http or https');
  if (url.username !== '' || url.password !== '') throw new Error('override.endpoint: credentials go in auth, not in the URL');
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const port = url.port === '' ? (scheme === 'https' ? 443 : 80) : Number(url.port);
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const endpointPath = opts.endpoint !== undefined && url.pathname !== '/' ? url.pathname : undefined;
  // the fixed arguments (endpoint's, then auth's) win over the client's of the same name
  const fixed = new URLSearchParams(opts.endpoint !== undefined ? url.search : '');
  for (const [k, v] of Object.entries(opts.authQuery ?? {})) fixed.set(k, v);
  const fixedNames = new Set(fixed.keys());
  const fixedQuery = fixed.toString();

  const timeout = opts.timeoutMs / 1000;
  const upstreamConf = {
    nodes: [{ host: hostname, port, weight: 1 }],
    scheme,
    pass_host: 'node',
    retries: 0,
    timeout: { connect: timeout, send: timeout, read: timeout },
    keepalive_pool: {
      size: opts.keepalivePool,
      idle_timeout: opts.keepaliveTimeoutMs / 1000,
      // nginx's keepalive off: one request per connection
      requests: opts.keepalive ? 1000 : 1,
    },
    ...(scheme === 'https' ? { tls: { verify: opts.sslVerify } } : {}),
  };

  return {
    upstreamConf,
    origin: url.origin,
    host: url.host,
    pathFor(protocol, clientUri, clientQuery) {
      const path = protocol === 'passthrough' ? clientUri : endpointPath ?? adapter.paths[protocol]!;
      let query = fixedQuery;
      if (clientQuery !== '') {
        const merged = new URLSearchParams(clientQuery);
        for (const name of fixedNames) merged.delete(name);
        for (const [k, v] of fixed) merged.append(k, v);
        query = merged.toString();
      }
      return query === '' ? path : `${path}?${query}`;
    },
  };
}
