// cache-control: gives responses to requests for static files (by path suffix) browser
// caching headers, `Expires` and `Cache-Control` (Higress's cache-control). The suffix is
// matched on the request path without its query string, after a dot, case-sensitively;
// no suffix means every response.
//
// Gatehouse differences: Higress writes `Cache-Control: maxAge=N`, which browsers ignore;
// Gatehouse writes `max-age=N`. Higress adds its headers next to the upstream's; Gatehouse
// replaces them, so a response never carries two contradicting answers.
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';

export interface CacheControlConf {
  suffix?: string | string[];
  expires: string | number;
}

export interface CacheControlPrepared {
  /** Each suffix with its leading dot, e.g. `.png`; empty means every path. */
  suffixes: string[];
  /** `Expires` for `max`/`epoch`; undefined: now + maxAge, computed per response. */
  fixedExpires: string | undefined;
  maxAge: number;
  cacheControl: string;
}

/** For access logs: `true` when this response got the caching headers. */
registerVariable('cache_control_applied');

/** Higress's `max`: a far-future date and ten years. */
const MAX_EXPIRES = 'Thu, 31 Dec 2037 23:55:55 GMT';
const MAX_AGE_SECONDS = 315360000;
const EPOCH_EXPIRES = 'Thu, 01 Jan 1970 00:00:01 GMT';

const SUFFIX_ITEM = '^\\.?[^./?|]+$';

export default definePlugin<CacheControlConf, CacheControlPrepared>({
  name: 'cache-control',
  description: 'Adds Expires and Cache-Control headers to responses for paths with given file suffixes.',
  version: '1.0.0',
  stage: 'authorization',
  priority: 420,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      suffix: {
        oneOf: [
          // Higress's form: extensions joined by `|`, e.g. `jpg|png`.
          { type: 'string', maxLength: 4096, pattern: '^([^./?|]+(\\|[^./?|]+)*)?$' },
          { type: 'array', maxItems: 256, items: { type: 'string', pattern: SUFFIX_ITEM, maxLength: 256 } },
        ],
      },
      expires: {
        oneOf: [
          { type: 'string', pattern: '^(max|epoch|[0-9]{1,10})$' },
          { type: 'integer', minimum: 0, maximum: 9999999999 },
        ],
      },
    },
    required: ['expires'],
  },

  prepare(conf) {
    const list = typeof conf.suffix === 'string' ? (conf.suffix === '' ? [] : conf.suffix.split('|')) : conf.suffix ?? [];
    const suffixes = list.map((s) => (s.startsWith('.') ? s : `.${s}`));
    if (conf.expires === 'max') {
      return { suffixes, fixedExpires: MAX_EXPIRES, maxAge: MAX_AGE_SECONDS, cacheControl: `max-age=${MAX_AGE_SECONDS}` };
    }
    if (conf.expires === 'epoch') {
      return { suffixes, fixedExpires: EPOCH_EXPIRES, maxAge: 0, cacheControl: 'no-cache' };
    }
    const maxAge = Number(conf.expires);
    return { suffixes, fixedExpires: undefined, maxAge, cacheControl: `max-age=${maxAge}` };
  },

  header_filter(p, ctx) {
    if (p.suffixes.length > 0) {
      const path = ctx.request.uri;
      if (!p.suffixes.some((s) => path.endsWith(s))) return;
    }
    ctx.response.setHeader('expires', p.fixedExpires ?? new Date(Date.now() + p.maxAge * 1000).toUTCString());
    ctx.response.setHeader('cache-control', p.cacheControl);
    ctx.setVar('cache_control_applied', true);
  },
});
