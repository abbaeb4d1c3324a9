import type { PhaseResult, Plugin, RequestPhase } from '../contracts/plugin.js';
import type { Chain, Instance } from './chain.js';
import { checkedHeaderValue, PluginDeadlineError, type PluginRun } from './plugin-run.js';
import { ERRORS, GatehouseError } from '../core/errors.js';
import type { PluginSnapshot, RoutePlugins } from './plugin-snapshot.js';
import { COST_PHASES, PHASE_INDEX } from '../observability/plugin-cost.js';
import { countPluginResponse } from '../observability/plugin-responses.js';
import { addedByConsumer, REQUEST_STEPS, RUN_ALL, SKIP_OVERRIDDEN, type SkipMode } from './plan.js';

// The only place phases are sequenced and decisions acted on: handlers return a
// PhaseResult and the runner ends the request, applies `_meta.error_response`, logs the
// warn line, and turns a throw into a 500 for this request only.
//
// The handler calls of a sampled request (run.costWeight > 0: one request in
// `prometheus.plugin_cost_sample`) are timed into their instance's cost series, exported
// as gatehouse_plugin_phase_duration_seconds{plugin, phase}, each standing for
// costWeight calls (src/observability/plugin-cost.ts). A clock read costs ~50 ns, so
// consecutive handlers of one phase share them: a handler's end is the next one's start
// (the runner's few checks in between count toward the next plugin), n + 1 reads for n
// handlers and none for a phase with nothing to run; a request not sampled reads none.
// The same timings go to the request's trace record when it records handler calls (node
// config `tracing`), for the per-phase spans of the tracing plugins.
//
// A plugin that answers the request itself (its decision, or its failure) is recorded
// there, and only there: run.respondedBy (the `plugin_responded` variable) and
// gatehouse_plugin_responses_total{plugin, route, code}. A request no plugin answers pays
// nothing for either.

/** A decision the runner made, ready to be written by the data plane. */
export interface Decision {
  status: number;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

const PLUGIN_FAILED: PhaseResult = { status: ERRORS.GH_ERR_PLUGIN_FAILED.status, body: { error_msg: ERRORS.GH_ERR_PLUGIN_FAILED.message } };

function toDecision(inst: Instance, r: PhaseResult, run: PluginRun): Decision {
  const headers: Record<string, string> = {};
  try {
    if (!Number.isInteger(r.status) || r.status < 100 || r.status > 999) throw new Error(`invalid response status ${JSON.stringify(r.status)}`);
    if (r.headers !== undefined && r.headers !== null) {
      for (const name in r.headers) headers[name] = checkedHeaderValue(name, r.headers[name]);
    }
  } catch (err) {
    return failure(inst, 'decision', err, run);
  }
  let body: Buffer | undefined;
  if (r.status >= 400) {
    run.log.warn({ plugin: inst.name, status: r.status, route_id: run.routeId }, `${inst.name} exits with http status code ${r.status}`);
  }
  if (r.status >= 400 && inst.errorResponse !== undefined) {
    body = inst.errorResponse;
    if (inst.errorResponseIsJson) headers['content-type'] = 'application/json';
  } else if (r.body === undefined || r.body === null) {
    body = undefined;
  } else if (Buffer.isBuffer(r.body)) {
    body = r.body;
  } else if (typeof r.body === 'string') {
    body = Buffer.from(r.body);
  } else {
    body = Buffer.from(JSON.stringify(r.body) + '\n');
    if (headers['content-type'] === undefined && headers['Content-Type'] === undefined) headers['content-type'] = 'application/json';
  }
  return { status: r.status, headers, body };
}

/** Whether this request's handler calls are timed: sampled for the cost histogram, or recorded for tracing. */
export function timesCalls(run: PluginRun): boolean {
  return run.costWeight !== 0 || run.ex.trace?.recordsCalls === true;
}

/** One timed handler call of phase `pi`: into the instance's cost series and the request's trace record, as each wants it. */
export function recordCall(run: PluginRun, inst: Instance, pi: number, start: number, end: number): void {
  if (run.costWeight !== 0) inst.cost.observe(pi, end - start, run.costWeight);
  const trace = run.ex.trace;
  if (trace !== undefined && trace.recordsCalls) trace.handlerCall(COST_PHASES[pi]!, inst.name, start, end);
}

export function isPromise(v: unknown): v is Promise<unknown> {
  return typeof (v as Promise<unknown> | undefined)?.then === 'function';
}

type Outcome = Decision | undefined | Promise<Decision | undefined>;

// Handlers as the runner calls them: from Instance.handlers, with the plugin as `this`.
type RequestHandler = (this: Plugin, prepared: unknown, ctx: PluginRun) => PhaseResult | void | Promise<PhaseResult | void>;

function skipped(mode: SkipMode, inst: Instance, run: PluginRun, route: RoutePlugins | undefined): boolean {
  if (mode === SKIP_OVERRIDDEN) return routeOverrides(run, inst);
  return !addedByConsumer(inst, route!.sources);
}

/**
 * Runs one request-side phase of one chain, from handler `from` on. Synchronous while
 * the handlers are: the promise machinery is entered only when a handler returns a
 * promise, so a chain of plain handlers costs no microtask (and no allocation here).
 */
function runPhase(chain: readonly Instance[], phase: RequestPhase | 'preflight', run: PluginRun,
  mode: SkipMode = RUN_ALL, route?: RoutePlugins, from = 0): Outcome {
  if (from >= chain.length) return undefined;
  const pi = PHASE_INDEX[phase];
  const timed = timesCalls(run);
  let t = -1;
  for (let i = from; i < chain.length; i++) {
    const inst = chain[i]!;
    if (mode !== RUN_ALL && skipped(mode, inst, run, route)) continue;
    if (inst.filter !== undefined) {
      if (inst.filterReadsBody && run.bodyUnread()) return afterBody(chain, phase, run, mode, route, i);
      if (!run.passesFilter(inst, pi)) continue;
    }
    if (timed && t < 0) t = performance.now();
    let out: PhaseResult | void | Promise<PhaseResult | void>;
    try {
      out = (inst.handlers[pi] as RequestHandler).call(inst.plugin, inst.prepared, run);
    } catch (err) {
      if (timed) recordCall(run, inst, pi, t, performance.now());
      return failed(inst, phase, err, run);
    }
    if (isPromise(out)) return resumePhase(out, chain, phase, run, mode, route, i, t);
    if (timed) {
      const end = performance.now();
      recordCall(run, inst, pi, t, end);
      t = end;
    }
    if (out !== undefined) {
      const d = decisionOf(inst, out, run);
      if (d !== undefined) return d;
    }
  }
  return undefined;
}

/**
 * Handler `i` returned a promise: the rest of the phase runs once it settles. Kept out of
 * runPhase so that runPhase creates no closures (a closure there would cost a context
 * object on every call, promise or not). `started` < 0: the request is not timed.
 */
function resumePhase(out: Promise<PhaseResult | void>, chain: readonly Instance[], phase: RequestPhase | 'preflight',
  run: PluginRun, mode: SkipMode, route: RoutePlugins | undefined, i: number, started: number): Promise<Decision | undefined> {
  const inst = chain[i]!;
  const pi = PHASE_INDEX[phase];
  return run.settle(Promise.resolve(out), inst.name, true).then((r) => {
    if (started >= 0) recordCall(run, inst, pi, started, performance.now());
    return decisionOf(inst, r, run) ?? runPhase(chain, phase, run, mode, route, i + 1);
  }, (err: unknown) => {
    if (started >= 0) recordCall(run, inst, pi, started, performance.now());
    return failed(inst, phase, err, run);
  });
}

/** A filter reads the body: it is read (once, bounded: 413 beyond) and the phase goes on from handler `i`. */
function afterBody(chain: readonly Instance[], phase: RequestPhase | 'preflight', run: PluginRun, mode: SkipMode,
  route: RoutePlugins | undefined, i: number): Promise<Decision | undefined> {
  const inst = chain[i]!;
  return run.settle(run.request.body(), inst.name, true).then(
    () => runPhase(chain, phase, run, mode, route, i),
    (err: unknown) => failed(inst, phase, err, run),
  );
}

function decisionOf(inst: Instance, r: PhaseResult | void, run: PluginRun): Decision | undefined {
  return r !== undefined && r !== null && typeof r === 'object' && typeof r.status === 'number'
    ? answered(inst, toDecision(inst, r, run), run) : undefined;
}

/** `inst` answers this request with `d`: recorded for access logs and metrics. */
function answered(inst: Instance, d: Decision, run: PluginRun): Decision {
  run.respondedBy = inst.name;
  countPluginResponse(inst.name, run.routeId ?? '', d.status);
  return d;
}

/** A handler threw or its promise rejected: the request is answered with its failure (see `failure`). */
function failed(inst: Instance, phase: string, err: unknown, run: PluginRun): Decision {
  return answered(inst, failure(inst, phase, err, run), run);
}

/**
 * A catalogued client error the handler raised (a body over the buffer limit: 413) is
 * answered as such; an overrun deadline is a 504 naming the plugin in the log; anything
 * else is that plugin's bug: a 500 for this request only.
 */
function failure(inst: Instance, phase: string, err: unknown, run: PluginRun): Decision {
  if (err instanceof GatehouseError && err.source === 'client') {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    // The rest of an unread body makes the connection unusable.
    if (err.code === 'GH_ERR_CLIENT_BODY_TOO_LARGE') headers.connection = 'close';
    return { status: err.status, headers, body: Buffer.from(JSON.stringify({ error_msg: ERRORS[err.code].message }) + '\n') };
  }
  if (err instanceof PluginDeadlineError) {
    run.log.error({ plugin: inst.name, phase, route_id: run.routeId, timeout_ms: err.ms },
      `plugin ${inst.name} timed out in ${phase} after ${err.ms} ms`);
    return { status: err.status, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ error_msg: ERRORS.GH_ERR_PLUGIN_TIMEOUT.message }) + '\n') };
  }
  run.log.error({ plugin: inst.name, phase, err: (err as Error)?.message ?? String(err), route_id: run.routeId },
    `plugin ${inst.name} failed in ${phase}`);
  return toDecision({ ...inst, errorResponse: undefined }, PLUGIN_FAILED, run);
}

/** A global instance of a `prefer_route` plugin (prometheus) gives way to the route's own instance, in every phase. */
export function routeOverrides(run: PluginRun, inst: Instance): boolean {
  if (inst.plugin.runPolicy !== 'prefer_route') return false;
  const all = run.routeChain.all;
  for (let i = 0; i < all.length; i++) if (all[i]!.name === inst.name) return true;
  return false;
}

/** Step `k` of REQUEST_STEPS. */
function step(k: number, run: PluginRun, plugins: PluginSnapshot, route: RoutePlugins | undefined): Outcome {
  const s = REQUEST_STEPS[k]!;
  if (s.routeOnly && route === undefined) return undefined;
  if (s.whenConsumerPending && !run.consumerPending) return undefined;
  if (s.mergeFirst && run.consumerPending && route !== undefined) mergeConsumer(run, plugins, route);
  const chain = s.chain === 'global' ? run.globalChain : run.routeChain;
  return runPhase(chain[s.phase], s.phase, run, s.skip, route);
}

/**
 * The request side, in the seeds' order: preflight hooks; global rules' rewrite then
 * access; the route's rewrite; the consumer merge (and the rewrite of the consumer's
 * own non-auth plugins); the route's access; then before_proxy (global, route). Returns
 * synchronously unless a handler returned a promise.
 */
export function runRequestSide(run: PluginRun, plugins: PluginSnapshot, route: RoutePlugins | undefined, from = 0): Outcome {
  for (let k = from; k < REQUEST_STEPS.length; k++) {
    const r = step(k, run, plugins, route);
    if (isPromise(r)) return resumeRequestSide(r, run, plugins, route, k + 1);
    if (r !== undefined) return r;
  }
  return undefined;
}

function resumeRequestSide(r: Promise<Decision | undefined>, run: PluginRun, plugins: PluginSnapshot,
  route: RoutePlugins | undefined, next: number): Promise<Decision | undefined> {
  return r.then((d) => d ?? runRequestSide(run, plugins, route, next));
}

function mergeConsumer(run: PluginRun, plugins: PluginSnapshot, route: RoutePlugins): void {
  run.consumerPending = false;
  if (run.consumer === undefined || run.ex.route === undefined) return;
  run.routeChain = plugins.withConsumer(route, run.consumer);
}
