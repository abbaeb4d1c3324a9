// limit-count: at most `count` requests per `time_window` seconds per key, in a fixed
// window (APISIX limit-count 3.x, policy `local`). The counters are the node's shared
// counters (src/process/counter-service.ts): the limit holds across all workers.
//
// Counter identity, as APISIX: `<group>:<key>` with `group`, else
// `<owning resource>:<config version>:<key>` — a global rule's instance and a route's
// count separately, and a changed config starts a new counter.
// Quota headers (names from plugin metadata `limit_header`, `remaining_header`,
// `reset_header`) go on the response whatever answers it, as APISIX sets them in access.
import type { PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import {
  ALLOW_DEGRADATION_SCHEMA, POLICY_SCHEMA, REJECTED_CODE_SCHEMA, REJECTED_MSG_SCHEMA,
  compileLimitKey, confVersion, instanceScope, rejection, type LimitKeyType,
} from './common/limits.js';
import { counterStore } from './common/shared-counters.js';

export interface LimitCountConf {
  count: number;
  time_window: number;
  key_type: LimitKeyType;
  key: string;
  rejected_code: number;
  rejected_msg?: string;
  policy: 'local';
  allow_degradation: boolean;
  show_limit_quota_header: boolean;
  group?: string;
  window_type: 'fixed';
}

interface LimitCountPrepared {
  count: number;
  windowMs: number;
  key: (ctx: PluginContext) => string;
  /** `<group>:` when grouped, else undefined (the owner and version are added per request). */
  groupPrefix: string | undefined;
  version: string;
  rejectedCode: number;
  rejectedMsg: string | undefined;
  degrade: boolean;
  showHeaders: boolean;
  limitHeader: string;
  remainingHeader: string;
  resetHeader: string;
}

/** The quota headers the response gets: the last instance to run access decides (APISIX: its set_header wins). */
const HEADERS = 'limit-count:headers';

const DEFAULT_HEADERS = {
  limit_header: 'X-RateLimit-Limit',
  remaining_header: 'X-RateLimit-Remaining',
  reset_header: 'X-RateLimit-Reset',
} as const;

function quota(p: LimitCountPrepared, ctx: PluginContext, remaining: number, resetMs: number): Record<string, string> {
  const headers = {
    [p.limitHeader]: String(p.count),
    [p.remainingHeader]: String(remaining),
    // whole seconds until the window closes, never 0 while it is open
    [p.resetHeader]: String(Math.max(0, Math.ceil(resetMs / 1000))),
  };
  ctx.shared.set(HEADERS, headers);
  return headers;
}

export default definePlugin<LimitCountConf, LimitCountPrepared>({
  name: 'limit-count',
  version: '0.4',
  stage: 'authorization',
  priority: 202,
  schema: {
    type: 'object',
    properties: {
      count: { type: 'integer', exclusiveMinimum: 0 },
      time_window: { type: 'integer', exclusiveMinimum: 0 },
      group: { type: 'string' },
      key: { type: 'string', default: 'remote_addr' },
      key_type: { type: 'string', enum: ['var', 'var_combination', 'constant'], default: 'var' },
      rejected_code: REJECTED_CODE_SCHEMA,
      rejected_msg: REJECTED_MSG_SCHEMA,
      policy: POLICY_SCHEMA,
      allow_degradation: ALLOW_DEGRADATION_SCHEMA,
      show_limit_quota_header: { type: 'boolean', default: true },
      window_type: { type: 'string', enum: ['fixed'], default: 'fixed' },
    },
    required: ['count', 'time_window'],
  },
  metadataSchema: {
    type: 'object',
    properties: {
      limit_header: { type: 'string', default: DEFAULT_HEADERS.limit_header },
      remaining_header: { type: 'string', default: DEFAULT_HEADERS.remaining_header },
      reset_header: { type: 'string', default: DEFAULT_HEADERS.reset_header },
    },
  },

  prepare(conf, env) {
    const md = env.metadata ?? {};
    const name = (field: keyof typeof DEFAULT_HEADERS): string =>
      typeof md[field] === 'string' && md[field] !== '' ? md[field] as string : DEFAULT_HEADERS[field];
    return {
      count: conf.count,
      windowMs: conf.time_window * 1000,
      key: compileLimitKey(conf.key_type ?? 'var', conf.key ?? 'remote_addr'),
      groupPrefix: conf.group === undefined ? undefined : `group/${conf.group}:`,
      version: confVersion(conf),
      rejectedCode: conf.rejected_code ?? 503,
      rejectedMsg: conf.rejected_msg,
      degrade: conf.allow_degradation === true,
      showHeaders: conf.show_limit_quota_header !== false,
      limitHeader: name('limit_header'),
      remainingHeader: name('remaining_header'),
      resetHeader: name('reset_header'),
    };
  },

  async access(p, ctx) {
    const key = p.groupPrefix !== undefined
      ? p.groupPrefix + p.key(ctx)
      : `${instanceScope(p, ctx)}:${p.version}:${p.key(ctx)}`;
    let count: number;
    let resetMs: number;
    try {
      ({ count, resetMs } = await counterStore().incr(key, 1, p.windowMs));
    } catch (err) {
      ctx.log.error({ err: (err as Error).message }, `failed to limit count: ${(err as Error).message}`);
      if (p.degrade) return undefined;
      return { status: 500, body: { error_msg: 'failed to limit count' } };
    }
    const remaining = p.count - count;
    if (remaining < 0) {
      return rejection(p.rejectedCode, p.rejectedMsg, p.showHeaders ? quota(p, ctx, 0, resetMs) : undefined);
    }
    if (p.showHeaders) quota(p, ctx, remaining, resetMs);
    return undefined;
  },

  header_filter(_p, ctx) {
    const headers = ctx.shared.get(HEADERS) as Record<string, string> | undefined;
    if (headers === undefined) return;
    for (const name in headers) ctx.response.setHeader(name, headers[name]);
  },
});
