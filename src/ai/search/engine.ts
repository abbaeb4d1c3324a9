// What ai-network-search's engines share (Higress ai-search's engine package): the
// fields every engine takes, how the Higress service fields become a URL here, and the
// shape of one result.
import type { ServiceRequest } from '../outbound/service-call.js';
import { urlHost } from '../../core/host-port.js';

/** The kinds of sources searchRewrite sorts queries into: web, knowledge base, arXiv. */
export type SourceKind = 'internet' | 'private' | 'arxiv';

export interface SearchResult {
  title: string;
  link: string;
  content: string;
}

/** The fields every engine of `searchFrom` takes (Higress's names). */
export interface EngineCommonConf {
  type: string;
  serviceName: string;
  servicePort: number;
  count: number;
  start: number;
  timeoutMillisecond: number;
}

export interface SearchQuery {
  /** The question, or the queries an LLM rewrote it into. */
  queries: string[];
  /** `defaultLang` (e.g. `en-US`); '' for none. */
  language: string;
  /** arXiv only: the category a rewritten query names ('' for none); undefined: the configured one. */
  arxivCategory?: string;
}

export interface SearchEngine {
  readonly type: string;
  /** The queries it runs when searchRewrite sorts them: web, knowledge base or arXiv. */
  readonly kind: SourceKind;
  readonly timeoutMs: number;
  request(query: SearchQuery): ServiceRequest;
  /** The results of a 200 reply; an unreadable reply has none. */
  parse(body: Buffer): SearchResult[];
}

/**
 * The service an engine calls. Higress names an Envoy cluster (`serviceName`, `servicePort`);
 * here `serviceName` is the host itself (a DNS name or an IP), reached over https when
 * `servicePort` is 443 and over plain http on any other port (a local Elasticsearch on 9200,
 * a test server on loopback).
 */
export function serviceOrigin(conf: Pick<EngineCommonConf, 'serviceName' | 'servicePort'>): string {
  const host = urlHost(conf.serviceName);
  return conf.servicePort === 443 ? `https://${host}` : `http://${host}:${conf.servicePort}`;
}

/** A search result counts when it has a title, a link and some content (Higress's Valid). */
export function validResults(results: SearchResult[]): SearchResult[] {
  return results.filter((r) => r.title !== '' && r.link !== '' && r.content !== '');
}

/** A query string: `params` in order, then `optionArgs` (empty values left out, as Higress). */
export function queryString(params: [string, string | number][], optionArgs: Record<string, string> | undefined): string {
  const q = new URLSearchParams();
  for (const [k, v] of params) q.append(k, String(v));
  for (const [k, v] of Object.entries(optionArgs ?? {})) if (v !== '') q.append(k, v);
  return q.toString();
}

export const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** JSON of a reply, undefined when it is not JSON. */
export function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const doc: unknown = JSON.parse(body.toString('utf8'));
    return doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? doc as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

export const asArray = (v: unknown): Record<string, unknown>[] =>
  Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => x !== null && typeof x === 'object') : [];
