// Higress's AI plugins name the model they call by an Envoy cluster ("qwen.dns",
// "intent.static") plus a domain, port and path. Here there is no cluster registry: the
// call goes to a URL built from the address fields, and the service name only labels it.
// These build that URL, throwing an error naming the field when the fields give none.

import { parseHttpUrl } from '../../core/http-url.js';

export interface ServiceAddress {
  /** The URL to POST to. */
  url: string;
  /** The Host header (and TLS name) when a domain overrides the URL's host. */
  hostHeader?: string;
}

/**
 * ai-intent's `llm.*`: `proxyUrl` is the full chat URL; `proxyDomain` and `proxyPort`
 * replace its host and port when set (Higress dials the cluster and sends the domain as
 * Host: here the domain is dialled too, being the only address given).
 */
export function proxyUrlAddress(conf: { proxyUrl: string; proxyDomain?: string; proxyPort?: number }, prefix: string): ServiceAddress {
  const url = parseHttpUrl(conf.proxyUrl, `${prefix}proxyUrl`);
  if (conf.proxyDomain !== undefined && conf.proxyDomain !== '') url.hostname = conf.proxyDomain;
  if (conf.proxyPort !== undefined) url.port = String(conf.proxyPort);
  return { url: url.toString() };
}

/**
 * ai-json-resp's service fields, as Higress reads them: `serviceUrl` fills a missing
 * `serviceDomain` and `servicePath`; the port is `servicePort` (default 443); the path is
 * `servicePath`, else the client's request path. The scheme is `serviceUrl`'s (and its
 * default port when it names none), else https on port 443 and http on any other.
 */
export function serviceFieldsAddress(conf: { serviceDomain?: string; servicePath?: string; serviceUrl?: string; servicePort?: number },
  clientPath: string): ServiceAddress {
  const given = conf.serviceUrl === undefined || conf.serviceUrl === '' ? undefined : parseHttpUrl(conf.serviceUrl, 'serviceUrl');
  const domain = conf.serviceDomain !== undefined && conf.serviceDomain !== '' ? conf.serviceDomain : given?.hostname;
  if (domain === undefined || domain === '') throw new Error('serviceDomain or serviceUrl is required (the address of the model service)');
  const givenPort = given === undefined ? undefined : given.port !== '' ? Number(given.port) : given.protocol === 'http:' ? 80 : 443;
  const port = conf.servicePort ?? givenPort ?? 443;
  const scheme = given !== undefined ? given.protocol.slice(0, -1) : port === 443 ? 'https' : 'http';
  const givenPath = given === undefined || given.pathname === '/' ? '' : given.pathname;
  const path = conf.servicePath !== undefined && conf.servicePath !== '' ? conf.servicePath : givenPath !== '' ? givenPath : clientPath;
  const url = new URL(`${scheme}://${domain.includes(':') && !domain.startsWith('[') ? `[${domain}]` : domain}`);
  url.port = String(port);
  url.pathname = path.startsWith('/') ? path : `/${path}`;
  return { url: url.toString() };
}

/** ai-transformer's `provider.domain`: DashScope's host, always https on 443 in Higress; a full URL is taken as the endpoint itself. */
export function providerDomainAddress(domain: string, defaultPath: string): ServiceAddress {
  if (/^https?:\/\//i.test(domain)) return { url: parseHttpUrl(domain, 'provider.domain').toString() };
  if (domain === '' || /[/?#\s]/.test(domain)) throw new Error(`provider.domain: "${domain}" is not a host name (or an http(s) URL)`);
  return { url: `https://${domain}${defaultPath}` };
}
