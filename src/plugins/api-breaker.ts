// api-breaker: circuit breaking on the upstream's status codes (APISIX's schema). After
// `failures` unhealthy answers for one host+URI the breaker opens for 2 s, then for 4,
// 8, … (capped at `max_breaker_sec`) each time it trips again; `successes` healthy
// answers close it. It is seed 000's Sentinel filter, a policy that runs after every
// plugin: stage `default` at a negative priority, and the check in before_proxy.
// State is per worker (see docs/plugins/api-breaker.md), in a bounded map.
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { routeCounter } from './common/observe.js';
import { compileVarTemplate, type VarTemplate } from './common/var-template.js';

export interface ApiBreakerConf {
  break_response_code: number;
  break_response_body?: string;
  break_response_headers?: { key: string; value: string }[];
  max_breaker_sec: number;
  unhealthy: { http_statuses: number[]; failures: number };
  healthy: { http_statuses: number[]; successes: number };
}

interface ApiBreakerPrepared {
  code: number;
  body: string | undefined;
  headers: readonly { key: string; value: VarTemplate }[];
  maxBreakerMs: number;
  unhealthyStatuses: ReadonlySet<number>;
  failures: number;
  healthyStatuses: ReadonlySet<number>;
  successes: number;
}

interface BreakerState {
  unhealthy: number;
  healthy: number;
  /** Monotonic ms of the latest trip, if it is younger than max_breaker_sec. */
  trippedAt: number | undefined;
}

/** Most host+URI pairs a worker tracks; the least recently failing one is dropped beyond it. */
export const MAX_TRACKED = 10_000;
const states = new Map<string, BreakerState>();
// Set by before_proxy, read by log: only requests this breaker let through to the upstream count.
const PASSED = 'api-breaker.passed';

const now = (): number => performance.now();

/**
 * For access logs: the breaker as the request found it. `closed`: no trip in force;
 * `open`: refused with break_response_code; `half-open`: the open window has passed since
 * the latest trip, requests go through until `successes` healthy answers close it (or
 * more failures trip it again).
 */
registerVariable('api_breaker_state');
export type BreakerPosition = 'closed' | 'open' | 'half-open';

const countTrip = routeCounter('gatehouse_api_breaker_trips_total', 'Times api-breaker opened the circuit (each trip, re-trips included)');

/** How long the breaker stays open after its latest trip: 2^n s, n = trips so far, capped. */
export function openWindowMs(unhealthy: number, failures: number, maxBreakerMs: number): number {
  const n = Math.max(1, Math.floor(unhealthy / failures));
  return Math.min(2 ** Math.min(n, 31) * 1000, maxBreakerMs);
}

function stateKey(ctx: PluginContext): string {
  return `${ctx.request.host}\u0000${ctx.request.uri}`;
}

function isOpen(p: ApiBreakerPrepared, st: BreakerState, at: number): boolean {
  if (st.unhealthy === 0 || st.trippedAt === undefined) return false;
  if (at - st.trippedAt > p.maxBreakerMs) {
    st.trippedAt = undefined;
    return false;
  }
  return at <= st.trippedAt + openWindowMs(st.unhealthy, p.failures, p.maxBreakerMs);
}

function positionOf(p: ApiBreakerPrepared, st: BreakerState | undefined, at: number): BreakerPosition {
  if (st === undefined) return 'closed';
  if (isOpen(p, st, at)) return 'open';
  return st.trippedAt === undefined ? 'closed' : 'half-open';
}

function refusal(p: ApiBreakerPrepared, ctx: PluginContext): PhaseResult {
  if (p.body === undefined) return { status: p.code };
  const headers: Record<string, string> = {};
  for (const h of p.headers) headers[h.key] = h.value.render((name) => ctx.var(name));
  return { status: p.code, body: p.body, headers };
}

/** The status the upstream answered; a gateway error after the upstream was tried (502/504) counts as one. */
function upstreamStatus(ctx: PluginContext): number | undefined {
  const v = ctx.var('upstream_status');
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d{3}$/.test(v)) return Number(v);
  const status = ctx.response?.status;
  return status === 502 || status === 503 || status === 504 ? status : undefined;
}

function recordUnhealthy(p: ApiBreakerPrepared, ctx: PluginContext, key: string): void {
  let st = states.get(key);
  if (st === undefined) {
    st = { unhealthy: 0, healthy: 0, trippedAt: undefined };
    if (states.size >= MAX_TRACKED) states.delete(states.keys().next().value as string);
  } else {
    states.delete(key); // re-inserted below: the map's order is least recently failing first
  }
  states.set(key, st);
  st.unhealthy++;
  st.healthy = 0;
  if (st.unhealthy % p.failures === 0) {
    st.trippedAt = now();
    countTrip(ctx);
    const seconds = openWindowMs(st.unhealthy, p.failures, p.maxBreakerMs) / 1000;
    ctx.log.warn(`api-breaker: ${st.unhealthy} unhealthy upstream responses for ${ctx.request.uri}, breaking for ${seconds}s`);
  }
}

function recordHealthy(p: ApiBreakerPrepared, ctx: PluginContext, key: string): void {
  const st = states.get(key);
  if (st === undefined) return;
  if (++st.healthy < p.successes) return;
  states.delete(key);
  ctx.log.info(`api-breaker: ${p.successes} healthy upstream responses for ${ctx.request.uri}, breaker closed`);
}

/** Forgets every breaker's state (tests). */
export function resetBreakers(): void {
  states.clear();
}

/** `unhealthy` / `healthy`: which statuses count, and how many in a row decide. */
function statusRule(countField: string, minimum: number, maximum: number, fallbackStatus: number): Record<string, unknown> {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      http_statuses: {
        type: 'array', minItems: 1, uniqueItems: true, items: { type: 'integer', minimum, maximum }, default: [fallbackStatus],
      },
      [countField]: { type: 'integer', minimum: 1, default: 3 },
    },
    default: { http_statuses: [fallbackStatus], [countField]: 3 },
  };
}

export default definePlugin<ApiBreakerConf, ApiBreakerPrepared>({
  name: 'api-breaker',
  description: 'Breaks the circuit to an upstream that keeps failing: answers a configured response, for doubling periods, until it recovers.',
  version: '0.1',
  stage: 'default',
  priority: -1000,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      break_response_code: { type: 'integer', minimum: 200, maximum: 599 },
      break_response_body: { type: 'string' },
      break_response_headers: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          properties: { key: { type: 'string', minLength: 1 }, value: { type: 'string', minLength: 1 } },
          required: ['key', 'value'],
        },
      },
      max_breaker_sec: { type: 'integer', minimum: 3, default: 300 },
      unhealthy: statusRule('failures', 500, 599, 500),
      healthy: statusRule('successes', 200, 499, 200),
    },
    required: ['break_response_code'],
  },

  prepare(conf) {
    return {
      code: conf.break_response_code,
      body: conf.break_response_body,
      headers: (conf.break_response_headers ?? []).map((h) => ({ key: h.key, value: compileVarTemplate(h.value) })),
      maxBreakerMs: (conf.max_breaker_sec ?? 300) * 1000,
      unhealthyStatuses: new Set(conf.unhealthy?.http_statuses ?? [500]),
      failures: conf.unhealthy?.failures ?? 3,
      healthyStatuses: new Set(conf.healthy?.http_statuses ?? [200]),
      successes: conf.healthy?.successes ?? 3,
    };
  },

  before_proxy(p, ctx) {
    const position = positionOf(p, states.get(stateKey(ctx)), now());
    ctx.setVar('api_breaker_state', position);
    if (position === 'open') return refusal(p, ctx);
    ctx.shared.set(PASSED, true);
    return undefined;
  },

  log(p, ctx) {
    if (ctx.shared.get(PASSED) !== true) return;
    const status = upstreamStatus(ctx);
    if (status === undefined) return;
    const key = stateKey(ctx);
    if (p.unhealthyStatuses.has(status)) recordUnhealthy(p, ctx, key);
    else if (p.healthyStatuses.has(status)) recordHealthy(p, ctx, key);
  },
});
