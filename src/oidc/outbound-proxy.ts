// APISIX's `proxy_opts` (openid-connect): calls to an identity provider go through an HTTP
// proxy. An http:// target is sent to `http_proxy` as an absolute-form request, an
// https:// one tunnels through `https_proxy` with CONNECT (TLS end to end, the
// certificate still checked with ssl_verify); `*_proxy_authorization` is sent as
// Proxy-Authorization; hosts in `no_proxy` (comma-separated names, a leading dot or a
// bare domain also matching its subdomains, `*` for all) are called directly.
import { ProxyAgent, type Dispatcher } from 'undici';

export interface ProxyOpts {
  http_proxy?: string;
  https_proxy?: string;
  http_proxy_authorization?: string;
  https_proxy_authorization?: string;
  no_proxy?: string;
}

/** The JSON Schema of `proxy_opts`; the authorizations are credentials (masked for viewers). */
export const PROXY_OPTS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    http_proxy: { type: 'string', pattern: '^http://[^/]+/?$' },
    https_proxy: { type: 'string', pattern: '^http://[^/]+/?$' },
    http_proxy_authorization: { type: 'string', pattern: '^[!-~]+ [!-~]+$', encrypted: true },
    https_proxy_authorization: { type: 'string', pattern: '^[!-~]+ [!-~]+$', encrypted: true },
    no_proxy: { type: 'string' },
  },
};

/** The most proxy agents kept (one per proxy, credentials and TLS policy); the oldest is closed first. */
const MAX_AGENTS = 64;
const agents = new Map<string, ProxyAgent>();

export function bypassesProxy(hostname: string, noProxy: string | undefined): boolean {
  if (noProxy === undefined) return false;
  const host = hostname.toLowerCase();
  for (const raw of noProxy.split(',')) {
    const entry = raw.trim().toLowerCase().replace(/^\./, '');
    if (entry === '') continue;
    if (entry === '*' || host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/** The dispatcher for `target` under `opts`; undefined: call it directly. */
export function proxyDispatcher(target: URL, opts: ProxyOpts | undefined, sslVerify: boolean): Dispatcher | undefined {
  if (opts === undefined) return undefined;
  const tls = target.protocol === 'https:';
  const proxy = tls ? opts.https_proxy : opts.http_proxy;
  if (proxy === undefined || bypassesProxy(target.hostname, opts.no_proxy)) return undefined;
  const token = tls ? opts.https_proxy_authorization : opts.http_proxy_authorization;
  const key = `${proxy}\u0000${token ?? ''}\u0000${tls}\u0000${sslVerify}`;
  let agent = agents.get(key);
  if (agent === undefined) {
    if (agents.size >= MAX_AGENTS) {
      const [oldestKey, oldest] = agents.entries().next().value!;
      agents.delete(oldestKey);
      void oldest.close().catch(() => undefined);
    }
    agent = new ProxyAgent({ uri: proxy, token, proxyTunnel: tls, requestTls: { rejectUnauthorized: sslVerify } });
    agents.set(key, agent);
  }
  return agent;
}
