// The JSON request body as APISIX's prompt plugins (ai-prompt-template, ai-prompt-decorator)
// read it: bounded by the plugin's own `max_req_body_size` on top of the node's limit, with
// APISIX's messages for an empty or malformed body. A declared Content-Length over the
// bound is refused before a byte is buffered; a chunked body is measured once read.
import type { PluginContext } from '../../contracts/plugin.js';
import { readJsonBody, type JsonObject } from './json-body.js';

/** APISIX's default `max_req_body_size` (64 MiB); the node's `max_buffered_body_size` bounds it further. */
export const DEFAULT_MAX_REQ_BODY_SIZE = 67108864;

/** The `max_req_body_size` field as APISIX 3.18 declares it on its AI plugins. */
export const MAX_REQ_BODY_SIZE_SCHEMA = { type: 'integer', minimum: 1, default: DEFAULT_MAX_REQ_BODY_SIZE } as const;

export type BoundedBodyRead =
  | { ok: true; json: JsonObject }
  | { ok: false; status: 400 | 413; message: string };

function tooLarge(size: number, max: number): BoundedBodyRead {
  return { ok: false, status: 413, message: `request size ${size} is greater than the maximum size ${max} allowed` };
}

/**
 * The body as a JSON object, or why not: 413 over `maxBytes`, 400
 * `could not get body: request body is empty`, 400 `could not parse JSON request body: …`
 * (a JSON value that is not an object included: APISIX fails on those later, with a 500).
 */
export async function readBoundedJsonBody(ctx: PluginContext, maxBytes: number): Promise<BoundedBodyRead> {
  const declared = Number(ctx.request.header('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) return tooLarge(declared, maxBytes);
  const buf = await ctx.request.body();
  if (buf.length > maxBytes) return tooLarge(buf.length, maxBytes);
  const read = await readJsonBody(ctx);
  if (read.ok) return read;
  if (read.reason === 'empty') return { ok: false, status: 400, message: `could not get body: ${read.message}` };
  if (read.reason === 'not_json') return { ok: false, status: 400, message: read.message };
  return { ok: false, status: 400, message: `could not parse JSON request body: ${read.message}` };
}
