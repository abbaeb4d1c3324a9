// JSON documents a plugin reads from an identity provider (OpenID discovery documents,
// JSON Web Key Sets): fetched through the caller's connection pool, size-bounded, cached
// per URL for a TTL, one fetch in flight per URL. When a refresh fails the last good
// document stays in use (a provider outage does not log everyone out), and failures are
// not retried for RETRY_AFTER_FAILURE_MS, so a dead provider costs one request per
// cooldown rather than one per client request.
import { request, type Dispatcher } from 'undici';
import { withDeadline } from '../core/deadline.js';
import { proxyDispatcher, type ProxyOpts } from './outbound-proxy.js';

export interface FetchPolicy {
  dispatcher: Dispatcher;
  timeoutMs: number;
  /** Through an HTTP proxy (APISIX's proxy_opts); the certificate check follows sslVerify. */
  proxy?: ProxyOpts;
  sslVerify?: boolean;
}

/** The largest reply read from an identity provider. */
export const MAX_PROVIDER_REPLY_BYTES = 512 * 1024;
/** How long a failed fetch of a URL is answered from memory (the error, or the stale document). */
export const RETRY_AFTER_FAILURE_MS = 5_000;
/** The most URLs one cache remembers (the oldest is forgotten first). */
export const MAX_CACHED_URLS = 256;

export interface ProviderReply {
  status: number;
  json: unknown;
}

/**
 * One request to an identity provider; the reply's JSON (undefined when it is not JSON).
 * Throws on no answer, a timeout or a reply over MAX_PROVIDER_REPLY_BYTES.
 */
export async function providerRequest(url: string, policy: FetchPolicy,
  init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; form?: Record<string, string>; signal?: AbortSignal } = {}): Promise<ProviderReply> {
  const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
  let body: string | undefined;
  if (init.form !== undefined) {
    body = new URLSearchParams(init.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  // the deadline covers reading the reply too; it is released as soon as the call ends
  const reply = await withDeadline(policy.timeoutMs, async (signal) => {
    const res = await request(url, {
      method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body,
      dispatcher: proxyDispatcher(new URL(url), policy.proxy, policy.sslVerify ?? true) ?? policy.dispatcher,
      headersTimeout: policy.timeoutMs, bodyTimeout: policy.timeoutMs, signal,
    });
    const read: Buffer[] = [];
    let received = 0;
    for await (const part of res.body as AsyncIterable<Buffer>) {
      if ((received += part.length) > MAX_PROVIDER_REPLY_BYTES) {
        res.body.destroy();
        throw new Error(`reply from ${url} over ${MAX_PROVIDER_REPLY_BYTES} bytes`);
      }
      read.push(part);
    }
    return { status: res.statusCode, read };
  }, init.signal);
  let json: unknown;
  try { json = JSON.parse(Buffer.concat(reply.read).toString('utf8')); } catch { json = undefined; }
  return { status: reply.status, json };
}

/** A document fetched without checking certificates is never served to a caller that checks them. */
function cacheKey(url: string, policy: FetchPolicy): string {
  return policy.sslVerify === false ? `unverified ${url}` : url;
}

interface Entry<T> {
  value: T | undefined;
  expiresAt: number;
  failedAt: number;
  error: Error | undefined;
  inflight: Promise<T> | undefined;
}

/**
 * A cache of documents fetched by GET, each checked by `parse` (which throws on a
 * document it cannot use). `get` answers from memory while fresh; `refresh` forces a
 * fetch unless one failed or succeeded less than `minIntervalMs` ago.
 */
export class RemoteJsonCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly what: string, private readonly parse: (json: unknown) => T,
    private readonly onFetch?: (outcome: 'ok' | 'error') => void) {}

  async get(url: string, policy: FetchPolicy, ttlMs: number): Promise<T> {
    const entry = this.entries.get(cacheKey(url, policy));
    const now = Date.now();
    if (entry !== undefined) {
      if (entry.value !== undefined && now < entry.expiresAt) return entry.value;
      if (entry.inflight !== undefined) return entry.inflight;
      if (now - entry.failedAt < RETRY_AFTER_FAILURE_MS) return this.staleOrThrow(entry);
    }
    return this.fetch(url, policy, ttlMs);
  }

  /** Fetches again (a key rotation), at most once per `minIntervalMs`; false when it did not. */
  async refresh(url: string, policy: FetchPolicy, ttlMs: number, minIntervalMs: number): Promise<boolean> {
    const entry = this.entries.get(cacheKey(url, policy));
    if (entry?.inflight !== undefined) {
      await entry.inflight.catch(() => undefined);
      return true;
    }
    const last = entry === undefined ? 0 : Math.max(entry.failedAt, entry.expiresAt - ttlMs);
    if (Date.now() - last < minIntervalMs) return false;
    await this.fetch(url, policy, ttlMs).catch(() => undefined);
    return true;
  }

  private staleOrThrow(entry: Entry<T>): T {
    if (entry.value !== undefined) return entry.value;
    throw entry.error ?? new Error(`${this.what} unavailable`);
  }

  private fetch(url: string, policy: FetchPolicy, ttlMs: number): Promise<T> {
    const key = cacheKey(url, policy);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      if (this.entries.size >= MAX_CACHED_URLS) this.entries.delete(this.entries.keys().next().value!);
      entry = { value: undefined, expiresAt: 0, failedAt: 0, error: undefined, inflight: undefined };
      this.entries.set(key, entry);
    }
    const e = entry;
    e.inflight = (async () => {
      try {
        const reply = await providerRequest(url, policy);
        if (reply.status !== 200) throw new Error(`${this.what} ${url} answered ${reply.status}`);
        if (reply.json === undefined) throw new Error(`${this.what} ${url} is not JSON`);
        const value = this.parse(reply.json);
        Object.assign(e, { value, expiresAt: Date.now() + ttlMs, failedAt: 0, error: undefined });
        this.onFetch?.('ok');
        return value;
      } catch (err) {
        const error = new Error(`failed to fetch the ${this.what} ${url}: ${(err as Error).message}`);
        Object.assign(e, { failedAt: Date.now(), error });
        this.onFetch?.('error');
        return this.staleOrThrow(e);
      } finally {
        e.inflight = undefined;
      }
    })();
    return e.inflight;
  }
}
