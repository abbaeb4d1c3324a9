// canary-header: the seed's header-based canary. Requests whose header matches (`value`
// exactly, or `regex` on RE2) go to another upstream, inline or stored; the rest go to the
// route's. The inline upstream is checked with the gateway's upstream schema and kept as one
// object per config, so the data plane builds its balancer, health checks and pool once.
import type { UpstreamChoice } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { checkedInlineUpstream } from '../plugin-runtime/upstream-check.js';
import { compileNgxRegex } from './common/ngx-regex.js';
import { routeCounter } from './common/observe.js';

export interface CanaryHeaderConf {
  header: string;
  value?: string;
  regex?: string;
  upstream?: Record<string, unknown>;
  upstream_id?: string | number;
}

interface CanaryHeaderPrepared {
  header: string;
  matches: (value: string) => boolean;
  target: UpstreamChoice;
}

/** For access logs: `true` when the request went to the canary upstream, `false` when it did not. */
registerVariable('canary_header_matched');

const countMatched = routeCounter('gatehouse_canary_header_matched_total',
  'Requests canary-header sent to its canary upstream, by route.');

export default definePlugin<CanaryHeaderConf, CanaryHeaderPrepared>({
  name: 'canary-header',
  description: 'Sends requests carrying a header value to a canary upstream, the rest to the route\'s upstream.',
  version: '0.1',
  stage: 'default',
  priority: 100,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' },
      value: { type: 'string', maxLength: 4096 },
      regex: { type: 'string', minLength: 1, maxLength: 4096 },
      upstream: { type: 'object' },
      upstream_id: { anyOf: [{ type: 'string', minLength: 1, maxLength: 64 }, { type: 'integer' }] },
    },
    required: ['header'],
  },

  prepare(conf) {
    // Exactly one of each pair, checked here so the message names the fields (a schema oneOf would not).
    exactlyOne(conf, 'value', 'regex');
    exactlyOne(conf, 'upstream', 'upstream_id');
    let matches: (value: string) => boolean;
    if (conf.regex !== undefined) {
      let re;
      try {
        re = compileNgxRegex(conf.regex);
      } catch (e) {
        throw new Error(`regex: ${e instanceof Error ? e.message : String(e)}`);
      }
      matches = (v) => re.match(v) !== undefined;
    } else {
      const expected = conf.value!;
      matches = (v) => v === expected;
    }
    const target: UpstreamChoice = conf.upstream !== undefined
      ? { upstream: checkedInlineUpstream(conf.upstream, 'upstream') }
      : { upstream_id: String(conf.upstream_id) };
    return { header: conf.header.toLowerCase(), matches, target };
  },

  access(p, ctx) {
    const value = ctx.request.header(p.header);
    const matched = value !== undefined && p.matches(value);
    ctx.setVar('canary_header_matched', matched);
    if (!matched) return;
    if (ctx.setUpstream === undefined) throw new Error('canary-header needs a context that can choose the upstream');
    ctx.setUpstream(p.target);
    countMatched(ctx);
  },
});

function exactlyOne(conf: CanaryHeaderConf, a: keyof CanaryHeaderConf, b: keyof CanaryHeaderConf): void {
  if (conf[a] === undefined && conf[b] === undefined) throw new Error(`${a} or ${b} is required`);
  if (conf[a] !== undefined && conf[b] !== undefined) throw new Error(`${a} and ${b} cannot both be set: give one`);
}
