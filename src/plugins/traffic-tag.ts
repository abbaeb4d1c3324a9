// traffic-tag (Higress): adds a tag header to the request, chosen by condition groups
// (header, query parameter or cookie tests), else by weight, else a default, so the plugins
// after it (canary-header) and the upstream can route on it. As Higress: the first group that
// matches wins, a tag header the client already sent is kept, and `percentage` is sticky per
// value (the first 8 bytes of SHA-256 of the value, big-endian, mod 100, below the percentage).
import { createHash, randomInt } from 'node:crypto';
import type { PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { getCookie } from './common/auth.js';
import { compileNgxRegex } from './common/ngx-regex.js';
import { routeCounter } from './common/observe.js';

type Operator = 'equal' | 'not_equal' | 'prefix' | 'in' | 'not_in' | 'regex' | 'percentage';

interface ConditionConf {
  conditionType: 'header' | 'parameter' | 'cookie';
  key: string;
  operator: Operator;
  value: string[];
}

interface ConditionGroupConf {
  headerName: string;
  headerValue: string;
  logic: 'and' | 'or';
  conditions: ConditionConf[];
}

interface WeightGroupConf {
  headerName: string;
  headerValue: string;
  weight: number;
}

export interface TrafficTagConf {
  conditionGroups?: ConditionGroupConf[];
  weightGroups?: WeightGroupConf[];
  defaultTagKey?: string;
  defaultTagVal?: string;
}

interface Tag { name: string; value: string }

interface Condition {
  read: (ctx: PluginContext) => string | undefined;
  test: (value: string) => boolean;
}

interface TrafficTagPrepared {
  groups: { tag: Tag; all: boolean; conditions: Condition[] }[];
  /** Weight groups with their cumulative upper bound (0–100). */
  weights: { tag: Tag; below: number }[];
  fallback: Tag | undefined;
}

/** For access logs: the tag added, `<header>:<value>`, and how it was chosen (`condition`, `weight`, `default`, `kept`). */
registerVariable('traffic_tag');
registerVariable('traffic_tag_source');

const countTagged = routeCounter('gatehouse_traffic_tag_tagged_total', 'Requests traffic-tag added a tag header to, by route.');

const headerName = { type: 'string', minLength: 1, maxLength: 256, pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' };
const headerValue = { type: 'string', maxLength: 4096 };

/** Higress's sticky percentage: the value's bucket 0–99. */
export function percentageBucket(value: string): number {
  return Number(createHash('sha256').update(value).digest().readBigUInt64BE(0) % 100n);
}

function conditionTest(c: ConditionConf, where: string): (value: string) => boolean {
  const first = c.value[0];
  if (first === undefined) throw new Error(`${where}.value: at least one value is required`);
  switch (c.operator) {
    case 'equal': return (v) => v === first;
    case 'not_equal': return (v) => v !== first;
    case 'prefix': return (v) => v.startsWith(first);
    case 'in': { const set = new Set(c.value); return (v) => set.has(v); }
    case 'not_in': { const set = new Set(c.value); return (v) => !set.has(v); }
    case 'regex': {
      let re;
      try {
        re = compileNgxRegex(first);
      } catch (e) {
        throw new Error(`${where}.value: ${e instanceof Error ? e.message : String(e)}`);
      }
      return (v) => re.match(v) !== undefined;
    }
    case 'percentage': {
      if (!/^(?:100|[1-9]?[0-9])$/.test(first)) throw new Error(`${where}.value: percentage must be an integer 0-100`);
      const threshold = Number(first);
      return (v) => percentageBucket(v) < threshold;
    }
  }
}

function conditionReader(c: ConditionConf): (ctx: PluginContext) => string | undefined {
  const key = c.key;
  switch (c.conditionType) {
    case 'header': return (ctx) => ctx.request.header(key);
    case 'parameter': return (ctx) => ctx.request.arg(key);
    case 'cookie': return (ctx) => getCookie(ctx.request.header('cookie'), key);
  }
}

/** Higress's group logic: `and` needs every condition, `or` one; a value the request lacks fails `and` and is skipped by `or`. */
function groupMatches(group: TrafficTagPrepared['groups'][number], ctx: PluginContext): boolean {
  for (const c of group.conditions) {
    const v = c.read(ctx);
    const ok = v !== undefined && c.test(v);
    if (group.all && !ok) return false;
    if (!group.all && ok) return true;
  }
  return group.all && group.conditions.length > 0;
}

export default definePlugin<TrafficTagConf, TrafficTagPrepared>({
  name: 'traffic-tag',
  description: 'Adds a tag header to requests by header, query parameter or cookie conditions, by weight, or a default.',
  version: '0.1',
  stage: 'default',
  priority: 400,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      conditionGroups: {
        type: 'array', maxItems: 64,
        items: {
          type: 'object', additionalProperties: false,
          required: ['headerName', 'headerValue', 'logic', 'conditions'],
          properties: {
            headerName, headerValue,
            logic: { type: 'string', enum: ['and', 'or'] },
            conditions: {
              type: 'array', minItems: 1, maxItems: 64,
              items: {
                type: 'object', additionalProperties: false,
                required: ['conditionType', 'key', 'operator', 'value'],
                properties: {
                  conditionType: { type: 'string', enum: ['header', 'parameter', 'cookie'] },
                  key: { type: 'string', minLength: 1, maxLength: 256 },
                  operator: { type: 'string', enum: ['equal', 'not_equal', 'prefix', 'in', 'not_in', 'regex', 'percentage'] },
                  value: { type: 'array', minItems: 1, maxItems: 1024, items: { type: 'string', maxLength: 4096 } },
                },
              },
            },
          },
        },
      },
      weightGroups: {
        type: 'array', maxItems: 100,
        items: {
          type: 'object', additionalProperties: false,
          required: ['headerName', 'headerValue', 'weight'],
          properties: { headerName, headerValue, weight: { type: 'integer', minimum: 0, maximum: 100 } },
        },
      },
      defaultTagKey: headerName,
      defaultTagVal: { type: 'string', minLength: 1, maxLength: 4096 },
    },
    dependencies: { defaultTagKey: ['defaultTagVal'], defaultTagVal: ['defaultTagKey'] },
  },

  prepare(conf) {
    const groups = (conf.conditionGroups ?? []).map((g, i) => ({
      tag: { name: g.headerName.toLowerCase(), value: g.headerValue },
      all: g.logic === 'and',
      conditions: g.conditions.map((c, j) => ({
        read: conditionReader(c),
        test: conditionTest(c, `conditionGroups[${i}].conditions[${j}]`),
      })),
    }));
    let below = 0;
    const weights = (conf.weightGroups ?? []).map((w) => {
      below += w.weight;
      return { tag: { name: w.headerName.toLowerCase(), value: w.headerValue }, below };
    });
    if (below > 100) throw new Error(`weightGroups: the weights add up to ${below}, more than 100`);
    const fallback = conf.defaultTagKey !== undefined
      ? { name: conf.defaultTagKey.toLowerCase(), value: conf.defaultTagVal ?? '' } : undefined;
    return { groups, weights, fallback };
  },

  access(p, ctx) {
    let tag: Tag | undefined;
    let source = 'condition';
    for (const g of p.groups) {
      if (groupMatches(g, ctx)) { tag = g.tag; break; }
    }
    if (tag === undefined && p.weights.length > 0) {
      const roll = randomInt(100);
      tag = p.weights.find((w) => roll < w.below)?.tag;
      source = 'weight';
    }
    if (tag === undefined && p.fallback !== undefined) {
      tag = p.fallback;
      source = 'default';
    }
    if (tag === undefined) return;
    // As Higress: a tag the client (or an earlier hop) already set is kept.
    const existing = ctx.request.header(tag.name);
    if (existing !== undefined && existing !== '') {
      ctx.setVar('traffic_tag', `${tag.name}:${existing}`);
      ctx.setVar('traffic_tag_source', 'kept');
      return;
    }
    ctx.request.setHeader(tag.name, tag.value);
    ctx.setVar('traffic_tag', `${tag.name}:${tag.value}`);
    ctx.setVar('traffic_tag_source', source);
    countTagged(ctx);
  },
});
