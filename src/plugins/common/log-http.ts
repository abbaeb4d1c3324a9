// What the loggers that POST batches to an HTTP API (http-logger, loki-logger, elasticsearch-logger)
// share: their endpoint list taken in turn, the scheme check, and one bounded POST whose
// failure names the server and its answer (never the request's headers: they may carry
// credentials).
import { withDeadline } from '../../core/deadline.js';
import { parseUrl } from '../../core/http-url.js';
import { boundedBody, type ServicePool } from './http-client.js';

/** Throws `<field>: scheme "x" is not supported (http or https)` for any other scheme, `<field>: "…" is not a URL` for no URL. */
export function checkHttpScheme(url: string, field: string): void {
  const scheme = parseUrl(url, field).protocol;
  if (scheme !== 'http:' && scheme !== 'https:') throw new Error(`${field}: scheme "${scheme.slice(0, -1)}" is not supported (http or https)`);
}

/**
 * The `headers` field of a config, names lowercased. `reserved` maps a header the plugin
 * sets itself to what sets it: such a header given here would be overridden, so it is
 * refused, naming the field.
 */
export function checkedHeaders(given: Record<string, string> | undefined, reserved: ReadonlyMap<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(given ?? {})) {
    const from = reserved.get(name.toLowerCase());
    if (from !== undefined) throw new Error(`headers.${name}: set from ${from}, not here`);
    headers[name.toLowerCase()] = value;
  }
  return headers;
}

/**
 * A log server's addresses, used in turn: batches spread evenly, and the retry of a
 * failed batch goes to the next address (APISIX picks one at random per batch).
 */
export class EndpointRotation {
  private next = 0;

  constructor(readonly addresses: readonly string[]) {}

  pick(): string {
    const addr = this.addresses[this.next % this.addresses.length]!;
    this.next = (this.next + 1) % this.addresses.length;
    return addr;
  }
}

/** A reply read at most this far: enough for a bulk API's per-document results. */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

export interface LogPost {
  url: string;
  method?: 'POST' | 'GET';
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Names the server in errors: `loki server returned status: 500, ...`. */
  server: string;
  /** The statuses that count as accepted. */
  ok(status: number): boolean;
}

/** Sends one request; resolves the reply's text (undefined when it is over 16 MiB), rejects on a refused status or a timeout. */
export async function postLog(pool: ServicePool, p: LogPost): Promise<string | undefined> {
  const { res, reply } = await withDeadline(p.timeoutMs, async (signal) => {
    const res = await pool.request(p.url, {
      method: p.method ?? 'POST', headers: p.headers, body: p.body, headersTimeout: p.timeoutMs, bodyTimeout: p.timeoutMs, signal,
    });
    return { res, reply: await boundedBody(res.body, MAX_REPLY_BYTES).catch(() => undefined) };
  });
  if (!p.ok(res.statusCode)) {
    const text = reply === undefined ? '' : reply.toString('utf8').slice(0, 300);
    throw new Error(`${p.server} server returned status: ${res.statusCode}, body: ${text} host[${new URL(p.url).host}]`);
  }
  return reply?.toString('utf8');
}
