// request-block: refuses requests whose URL, headers or body contain a configured string
// (Higress request-block). Plain substring search, so the cost per request is linear in
// what the client sent; the body is read only when `block_bodies` is set, and never past
// `node.max_buffered_body_size` (the runtime answers 413 beyond it).
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';

export interface RequestBlockConf {
  block_urls?: string[];
  block_headers?: string[];
  block_bodies?: string[];
  blocked_code: number;
  blocked_message: string;
  case_sensitive: boolean;
}

interface RequestBlockPrepared {
  urls: string[];
  headers: string[];
  /** Body patterns as bytes (ASCII-lower-cased when case-insensitive). */
  bodies: Buffer[];
  caseSensitive: boolean;
  status: number;
  message: string;
}

/** For access logs: what matched a blocked request, `url`, `header` or `body`. */
registerVariable('request_block_reason');

const patternList = { type: 'array', minItems: 1, maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 4096 } };

export default definePlugin<RequestBlockConf, RequestBlockPrepared>({
  name: 'request-block',
  description: 'Refuses requests whose URL, headers or body contain a configured string.',
  version: '0.1',
  stage: 'authentication',
  priority: 320,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      block_urls: patternList,
      block_headers: patternList,
      block_bodies: patternList,
      blocked_code: { type: 'integer', minimum: 200, maximum: 599, default: 403 },
      blocked_message: { type: 'string', maxLength: 4096, default: '' },
      case_sensitive: { type: 'boolean', default: true },
    },
    // Higress's rule: at least one of the three lists.
    anyOf: [
      { required: ['block_urls'] },
      { required: ['block_headers'] },
      { required: ['block_bodies'] },
    ],
  },

  prepare(conf) {
    const caseSensitive = conf.case_sensitive ?? true;
    const fold = (s: string): string => (caseSensitive ? s : s.toLowerCase());
    return {
      urls: (conf.block_urls ?? []).map(fold),
      headers: (conf.block_headers ?? []).map(fold),
      bodies: (conf.block_bodies ?? []).map((s) => {
        const bytes = Buffer.from(s, 'utf8');
        return caseSensitive ? bytes : asciiLowerCase(bytes);
      }),
      caseSensitive,
      status: conf.blocked_code ?? 403,
      message: conf.blocked_message ?? '',
    };
  },

  async access(p, ctx) {
    const refusal = { status: p.status, body: p.message };
    const fold = (s: string): string => (p.caseSensitive ? s : s.toLowerCase());
    if (p.urls.length > 0) {
      const uri = ctx.var('request_uri');
      const url = fold(typeof uri === 'string' ? uri : ctx.request.uri);
      if (p.urls.some((u) => url.includes(u))) return blocked(ctx, 'url', refusal);
    }
    if (p.headers.length > 0) {
      const headers = fold(serializeHeaders(ctx.request.allHeaders?.() ?? {}));
      if (p.headers.some((h) => headers.includes(h))) return blocked(ctx, 'header', refusal);
    }
    if (p.bodies.length > 0) {
      const raw = await ctx.request.body();
      const body = p.caseSensitive ? raw : asciiLowerCase(raw);
      if (p.bodies.some((b) => body.includes(b))) return blocked(ctx, 'body', refusal);
    }
    return undefined;
  },
});

function blocked(ctx: PluginContext, reason: 'url' | 'header' | 'body', refusal: PhaseResult): PhaseResult {
  ctx.setVar('request_block_reason', reason);
  return refusal;
}

/**
 * Higress's serialisation: each header as `name\nvalue`, joined by newlines, so a pattern
 * may name a header, a value, or both across the line break.
 */
function serializeHeaders(headers: Record<string, string>): string {
  return Object.entries(headers).map(([name, value]) => `${name}\n${value}`).join('\n');
}

/** Lower-cases A–Z only, so multi-byte UTF-8 sequences stay intact. */
function asciiLowerCase(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const c = out[i]!;
    if (c >= 0x41 && c <= 0x5a) out[i] = c | 0x20;
  }
  return out;
}
