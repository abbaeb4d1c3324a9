// consumer-restriction: allows or rejects a request by the identified consumer's name,
// its consumer group, or the route / service it matched (APISIX consumer-restriction).
// Runs in access, after the auth plugins' rewrite has attached the consumer.
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';

type RestrictionType = 'consumer_name' | 'service_id' | 'route_id' | 'consumer_group_id';

export interface ConsumerRestrictionConf {
  type: RestrictionType;
  blacklist?: string[];
  whitelist?: string[];
  allowed_by_methods?: { user?: string; methods?: string[] }[];
  rejected_code: number;
  rejected_msg?: string;
}

interface ConsumerRestrictionPrepared {
  value: (ctx: PluginContext) => string | undefined;
  blacklist: ReadonlySet<string> | undefined;
  whitelist: ReadonlySet<string> | undefined;
  /** user → allowed methods; only the first entry of a user counts, as in APISIX. */
  methods: ReadonlyMap<string, ReadonlySet<string>> | undefined;
  missing: string;
  rejectedCode: number;
  rejectedMsg: string;
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PURGE'];

const FETCH: Record<RestrictionType, (ctx: PluginContext) => string | undefined> = {
  consumer_name: (ctx) => ctx.consumer?.username,
  consumer_group_id: (ctx) => ctx.consumer?.group_id,
  route_id: (ctx) => ctx.routeId,
  service_id: (ctx) => ctx.serviceId,
};

// A fresh result per request: the runner may replace the body (`_meta.error_response`).
const reject = (p: ConsumerRestrictionPrepared): PhaseResult => ({ status: p.rejectedCode, body: { message: p.rejectedMsg } });

export default definePlugin<ConsumerRestrictionConf, ConsumerRestrictionPrepared>({
  name: 'consumer-restriction',
  description: 'Allows or denies access by consumer, consumer group, service or route.',
  version: '0.1',
  stage: 'authorization',
  priority: 305,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      type: { type: 'string', enum: ['consumer_name', 'service_id', 'route_id', 'consumer_group_id'], default: 'consumer_name' },
      blacklist: { type: 'array', minItems: 1, items: { type: 'string' } },
      whitelist: { type: 'array', minItems: 1, items: { type: 'string' } },
      allowed_by_methods: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          properties: {
            user: { type: 'string' },
            methods: { type: 'array', minItems: 1, items: { type: 'string', enum: METHODS } },
          },
          // APISIX does not require them, but an entry without a user matches nobody and
          // one without methods fails every request of that user (a Lua error in APISIX).
          required: ['user', 'methods'],
        },
      },
      // APISIX sets no maximum; above 599 is no HTTP status (above 999 every request would fail with 500).
      rejected_code: { type: 'integer', minimum: 200, maximum: 599, default: 403 },
      rejected_msg: { type: 'string' },
    },
    anyOf: [
      { required: ['blacklist'] },
      { required: ['whitelist'] },
      { required: ['allowed_by_methods'] },
    ],
  },

  prepare(conf) {
    const type = conf.type ?? 'consumer_name';
    let methods: Map<string, Set<string>> | undefined;
    if (conf.allowed_by_methods !== undefined && conf.allowed_by_methods.length > 0) {
      methods = new Map();
      for (const rule of conf.allowed_by_methods) {
        if (rule.user === undefined || methods.has(rule.user)) continue;
        methods.set(rule.user, new Set(rule.methods ?? []));
      }
    }
    const nonEmpty = (list: string[] | undefined): Set<string> | undefined =>
      list !== undefined && list.length > 0 ? new Set(list) : undefined;
    return {
      value: FETCH[type],
      blacklist: nonEmpty(conf.blacklist),
      whitelist: nonEmpty(conf.whitelist),
      methods,
      missing: `The request is rejected, please check the ${type} for this request`,
      rejectedCode: conf.rejected_code ?? 403,
      rejectedMsg: conf.rejected_msg ?? `The ${type} is forbidden.`,
    };
  },

  access(p, ctx) {
    const value = p.value(ctx);
    if (value === undefined) return { status: 401, body: { message: p.missing } };
    if (p.blacklist !== undefined && p.blacklist.has(value)) return reject(p);

    let whitelisted = false;
    let block = false;
    if (p.whitelist !== undefined) {
      whitelisted = p.whitelist.has(value);
      block = !whitelisted;
    }
    // A whitelisted value is not held to allowed_by_methods (APISIX's rule).
    if (p.methods !== undefined && !whitelisted) {
      const allowed = p.methods.get(value);
      if (allowed !== undefined && !allowed.has(ctx.request.method)) block = true;
    }
    return block ? reject(p) : undefined;
  },
});
