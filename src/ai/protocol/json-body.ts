// The request body as the AI plugins share it. Most of them read the JSON body (model,
// messages, stream) and several rewrite it; parsing it once per plugin would cost a
// JSON.parse each on bodies that can be megabytes. So the parsed object is kept beside the
// Buffer it came from: the next reader gets it back as long as nobody replaced the body
// since (the Buffer's identity says so), and a writer stores what it wrote.
import type { PluginContext } from '../../contracts/plugin.js';

export type JsonObject = Record<string, unknown>;

export type BodyRead =
  | { ok: true; json: JsonObject }
  | { ok: false; reason: 'empty' | 'not_json' | 'not_object'; message: string };

const KEY = 'ai.json-body';

interface Parsed { buf: Buffer; read: BodyRead }

export function parseJsonBody(buf: Buffer): BodyRead {
  if (buf.length === 0) return { ok: false, reason: 'empty', message: 'request body is empty' };
  let json: unknown;
  try {
    json = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'not_json', message: `could not parse JSON request body: ${(err as Error).message}` };
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return { ok: false, reason: 'not_object', message: 'request body is not a JSON object' };
  }
  return { ok: true, json: json as JsonObject };
}

/**
 * The request body parsed as a JSON object, shared by every plugin of the request. Callers
 * that change `json` must call writeJsonBody, or the upstream gets the old bytes.
 * Rejects as ctx.request.body() does (a body over `node.max_buffered_body_size`: 413).
 */
export async function readJsonBody(ctx: PluginContext): Promise<BodyRead> {
  const buf = await ctx.request.body();
  const known = ctx.shared.get(KEY) as Parsed | undefined;
  if (known !== undefined && known.buf === buf) return known.read;
  const read = parseJsonBody(buf);
  ctx.shared.set(KEY, { buf, read } satisfies Parsed);
  return read;
}

/** Sends `json` upstream as the request body (Content-Length follows) and keeps it parsed for the next reader. */
export function writeJsonBody(ctx: PluginContext, json: JsonObject): void {
  const buf = Buffer.from(JSON.stringify(json));
  ctx.request.setBody(buf);
  ctx.shared.set(KEY, { buf, read: { ok: true, json } } satisfies Parsed);
}

/** True for `application/json` and `application/*+json` (parameters ignored); an absent Content-Type counts as JSON, as in APISIX's ai-proxy. */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType === '') return true;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}
