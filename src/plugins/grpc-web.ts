import type { PluginContext, PhaseResult } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';

// APISIX's grpc-web (3.18): a browser's gRPC-Web call (HTTP/1.1 or HTTP/2) proxied to a
// gRPC upstream. The request body is already gRPC's framing (base64 in the -text
// variants); the response's trailers, which a browser cannot read as HTTP trailers, go at
// the end of the body as a frame with flag 0x80 (grpc/doc/PROTOCOL-WEB.md).

interface GrpcWebConf { cors_allow_headers: string; max_req_body_size?: number }
interface GrpcWebPrepared { allowHeaders: string; maxBody: number | undefined }

/** What access decided, for the response phases (in ctx.shared). */
interface GrpcWebState { mime: string; text: boolean; carry: Buffer }

const STATE = 'grpc_web';
const MIMES: Record<string, 'binary' | 'text'> = {
  'application/grpc-web': 'binary',
  'application/grpc-web+proto': 'binary',
  'application/grpc-web-text': 'text',
  'application/grpc-web-text+proto': 'text',
};
const EMPTY = Buffer.alloc(0);

function stateOf(ctx: PluginContext): GrpcWebState | undefined {
  return ctx.shared.get(STATE) as GrpcWebState | undefined;
}

/** The gRPC path: the part of the request's path the route's `/prefix/*` pattern left (the whole path for an exact pattern). */
function grpcPath(ctx: PluginContext): string {
  const pattern = String(ctx.var('matched_uri') ?? '');
  const path = ctx.request.uri;
  const rest = pattern.endsWith('*') && path.startsWith(pattern.slice(0, -1)) ? path.slice(pattern.length - 1) : path;
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** Strict base64 (RFC 4648, padded groups may follow one another as gRPC-Web text allows): undefined when malformed. */
function decodeBase64(text: string): Buffer | undefined {
  const compact = text.replace(/[\r\n]/g, '');
  if (!/^([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)*$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** The trailers frame: flag 0x80, a 4-byte length, then `name:value\r\n` lines. */
function trailerFrame(status: string, message: string): Buffer {
  const text = Buffer.from(`grpc-status:${status}\r\ngrpc-message:${message}\r\n`);
  const head = Buffer.alloc(5);
  head[0] = 0x80;
  head.writeUInt32BE(text.length, 1);
  return Buffer.concat([head, text]);
}

export default definePlugin<GrpcWebConf, GrpcWebPrepared>({
  name: 'grpc-web',
  description: 'Proxies gRPC-Web calls from browsers to a gRPC upstream, with the trailers in the response body and CORS headers.',
  version: 0.1,
  // APISIX priority 505: after degraphql (509)
  stage: 'authorization',
  priority: 425,
  schema: {
    type: 'object',
    properties: {
      cors_allow_headers: {
        type: 'string', default: 'content-type,x-grpc-web,x-user-agent',
        description: 'Access-Control-Allow-Headers of the answer to a preflight (OPTIONS)',
      },
      max_req_body_size: { type: 'integer', minimum: 1, description: 'bytes; a larger request body is refused with 413' },
    },
    additionalProperties: false,
  },

  prepare(conf) {
    return { allowHeaders: conf.cors_allow_headers, maxBody: conf.max_req_body_size };
  },

  async access(p, ctx): Promise<PhaseResult | undefined> {
    const method = ctx.request.method;
    if (method === 'OPTIONS') return { status: 204 };
    if (method !== 'POST') return { status: 405 };
    const mime = ctx.request.header('content-type') ?? '';
    const encoding = MIMES[mime.split(';')[0]!.trim().toLowerCase()];
    if (encoding === undefined) return { status: 400, body: { message: `Content-Type ${mime === '' ? '(none)' : mime} is not gRPC-Web` } };
    const declared = Number(ctx.request.header('content-length') ?? 0);
    if (p.maxBody !== undefined && declared > p.maxBody) return { status: 413 };
    let body = await ctx.request.body();
    if (p.maxBody !== undefined && body.length > p.maxBody) return { status: 413 };
    if (encoding === 'text') {
      const decoded = decodeBase64(body.toString('latin1'));
      if (decoded === undefined) return { status: 400, body: { message: 'the request body is not base64' } };
      body = decoded;
    }
    ctx.request.upstreamUri = grpcPath(ctx);
    ctx.request.upstreamMethod = 'POST';
    ctx.request.setHeader('content-type', 'application/grpc');
    ctx.request.setBody(body);
    ctx.shared.set(STATE, { mime, text: encoding === 'text', carry: EMPTY } satisfies GrpcWebState);
    return undefined;
  },

  header_filter(p, ctx) {
    const res = ctx.response;
    if (ctx.request.method === 'OPTIONS') {
      res.setHeader('access-control-allow-methods', 'POST');
      res.setHeader('access-control-allow-headers', p.allowHeaders);
    }
    // the cors plugin's origins win when it runs on the route too
    if (res.header('access-control-allow-origin') === undefined) res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-expose-headers', 'grpc-message,grpc-status');
    const state = stateOf(ctx);
    if (state !== undefined) {
      res.setHeader('content-type', state.mime);
      res.setHeader('content-length', undefined);
    }
  },

  filtersBody: () => true,

  body_filter(_p, ctx, chunk, eof) {
    const state = stateOf(ctx);
    if (state === undefined) return undefined;
    let out = chunk;
    // a trailers-only answer has its grpc-status in the head already: no frame
    if (eof && ctx.response.header('grpc-status') === undefined) {
      const status = ctx.var('grpc_status');
      const frame = status === undefined || status === null
        ? trailerFrame('2', 'upstream grpc status not received')
        : trailerFrame(String(status), String(ctx.var('grpc_message') ?? ''));
      out = out.length === 0 ? frame : Buffer.concat([out, frame]);
    }
    if (!state.text) return out;
    // base64 in whole 3-byte groups, so the text carries no padding until its end
    const all = state.carry.length === 0 ? out : Buffer.concat([state.carry, out]);
    const whole = eof ? all.length : all.length - (all.length % 3);
    state.carry = all.subarray(whole);
    return all.subarray(0, whole).toString('base64');
  },
});
