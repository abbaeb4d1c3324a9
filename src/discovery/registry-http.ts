import { Agent, request, type Dispatcher } from 'undici';
import { boundedBody } from '../core/bounded-body.js';
import { withDeadline } from '../core/deadline.js';

// What the HTTP registries (consul, nacos, eureka, kubernetes) share: one keep-alive
// connection pool per registry, bounded timeouts and reply sizes, errors that name the
// URL without its query (which may carry credentials), and abortable waits and the
// back-off after failures (which dns uses too).

/** The largest reply read from a registry (a big Eureka or Kubernetes list fits many times over). */
export const MAX_REGISTRY_REPLY_BYTES = 32 * 1024 * 1024;

export interface RegistryHttpOptions {
  connectTimeoutMs: number;
  /** Until the answer's head, and between pieces of its body. */
  readTimeoutMs: number;
  /** For the whole of each `fetch` (connect, send, read): registries whose timeouts add up to one (nacos, eureka). */
  totalTimeoutMs?: number;
  /** Verify the registry's TLS certificate (default true); `ca`: the CA to verify it with. */
  tls?: { verify?: boolean; ca?: string };
}

export interface RegistryReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface RequestInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Replaces the read timeout for this request (a blocking query waits longer). */
  readTimeoutMs?: number;
}

export class RegistryHttp {
  private readonly agent: Agent;

  constructor(private readonly opts: RegistryHttpOptions) {
    this.agent = new Agent({
      connect: {
        timeout: opts.connectTimeoutMs,
        ...(opts.tls?.verify === false ? { rejectUnauthorized: false } : {}),
        ...(opts.tls?.ca !== undefined ? { ca: opts.tls.ca } : {}),
      },
      keepAliveTimeout: 30_000,
    });
  }

  /** One request; its whole body as text. Throws (naming the URL without its query) on no answer, a timeout or a reply over the cap. */
  async fetch(url: string, init: RequestInit = {}): Promise<RegistryReply> {
    const total = this.opts.totalTimeoutMs;
    if (total === undefined) return this.fetchWhole(url, init);
    return withDeadline(total, (signal) => this.fetchWhole(url, { ...init, signal }), init.signal);
  }

  private async fetchWhole(url: string, init: RequestInit): Promise<RegistryReply> {
    const res = await this.send(url, init);
    let body: Buffer | undefined;
    try {
      body = await boundedBody(res.body as AsyncIterable<Buffer>, MAX_REGISTRY_REPLY_BYTES);
    } catch (err) {
      res.body.destroy();
      throw readError(url, err);
    }
    if (body === undefined) throw new Error(`${where(url)}: reply over ${MAX_REGISTRY_REPLY_BYTES} bytes`);
    return { status: res.statusCode, headers: res.headers, text: body.toString('utf8') };
  }

  /** The answer's head and its body as a stream, for replies read as they come (a watch). */
  async send(url: string, init: RequestInit = {}): Promise<Dispatcher.ResponseData> {
    const timeout = init.readTimeoutMs ?? this.opts.readTimeoutMs;
    try {
      return await request(url, {
        method: init.method ?? 'GET',
        headers: { accept: 'application/json', ...init.headers },
        body: init.body,
        dispatcher: this.agent,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        ...(init.signal !== undefined ? { signal: init.signal } : {}),
      });
    } catch (err) {
      throw readError(url, err);
    }
  }

  close(): void {
    void this.agent.close().catch(() => undefined);
  }
}

/** `scheme://host:port/path` of a URL: never its query or credentials. */
export function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'registry';
  }
}

function readError(url: string, err: unknown): Error {
  if (err instanceof Error && err.message.startsWith(where(url))) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const reason = (err as Error).message || String(err);
  return new Error(`${where(url)}: ${code !== undefined && !reason.includes(code) ? `${code} ${reason}` : reason}`, { cause: err });
}

/** The body as JSON; throws naming the URL when it is not. */
export function parseJson(url: string, reply: RegistryReply): unknown {
  try {
    return JSON.parse(reply.text);
  } catch {
    throw new Error(`${where(url)}: answer ${reply.status} is not JSON`);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Retry delays after failures: 1 s, doubling up to `maxMs`; `reset` after a success. */
export class Backoff {
  private failures = 0;
  constructor(private readonly maxMs = 30_000, private readonly firstMs = 1_000) {}
  next(): number {
    return Math.min(this.maxMs, this.firstMs * 2 ** Math.min(this.failures++, 20));
  }
  reset(): void {
    this.failures = 0;
  }
}

/** A registry address with credentials in its URL (`http://user:password@host:port`), split for an Authorization header or a login. */
export interface CredentialedBase {
  /** `scheme://host:port<prefix>`, ending in `/`. */
  base: string;
  username?: string;
  password?: string;
}

export function credentialedBase(url: string, prefix: string): CredentialedBase {
  const u = new URL(url);
  const path = prefix === '' ? '/' : (prefix.startsWith('/') ? prefix : `/${prefix}`).replace(/\/?$/, '/');
  const out: CredentialedBase = { base: `${u.protocol}//${u.host}${path}` };
  if (u.username !== '') {
    out.username = decodeURIComponent(u.username);
    out.password = decodeURIComponent(u.password);
  }
  return out;
}

/** The items in order from a random one (wrapping), so hosts tried in turn share the load. */
export function fromRandomStart<T>(items: readonly T[]): T[] {
  const start = Math.floor(Math.random() * items.length);
  return [...items.slice(start), ...items.slice(0, start)];
}
