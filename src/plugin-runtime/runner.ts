import { ResponseFailure } from './response-failure.js';
import type { PhaseResult, Plugin, RequestPhase } from '../contracts/plugin.js';
import type { Chain, Instance } from './chain.js';
import { checkedHeaderValue, type PluginRun } from './plugin-run.js';
import type { PluginSnapshot, RoutePlugins } from './plugin-snapshot.js';
import { PHASE_INDEX } from '../observability/plugin-cost.js';

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

/** A decision the runner made, ready to be written by the data plane. */
export interface Decision {
  status: number;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

const INTERNAL_ERROR: PhaseResult = { status: 500, body: { error_msg: 'Internal Server Error' } };

function toDecision(inst: Instance, r: PhaseResult, run: PluginRun): Decision {
  const headers: Record<string, string> = {};
  try {
    if (!Number.isInteger(r.status) || r.status < 100 || r.status > 999) throw new Error(`invalid response status ${JSON.stringify(r.status)}`);
    if (r.headers !== undefined && r.headers !== null) {
      for (const name in r.headers) headers[name] = checkedHeaderValue(name, r.headers[name]);
    }
  } catch (err) {
    return failed(inst, 'decision', err, run);
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

function isPromise(v: unknown): v is Promise<unknown> {
  return typeof (v as Promise<unknown> | undefined)?.then === 'function';
}

type Outcome = Decision | undefined | Promise<Decision | undefined>;

// Handlers as the runner calls them: from Instance.handlers, with the plugin as `this`.
type RequestHandler = (this: Plugin, prepared: unknown, ctx: PluginRun) => PhaseResult | void | Promise<PhaseResult | void>;
type HeaderFilterHandler = (this: Plugin, prepared: unknown, ctx: PluginRun) => void;
type BodyFilterHandler = (this: Plugin, prepared: unknown, ctx: PluginRun, chunk: Buffer, eof: boolean) => Buffer | string | void;
type LogHandler = (this: Plugin, prepared: unknown, ctx: PluginRun) => void | Promise<void>;

/** Which instances runPhase passes over: none; global ones the route overrides; those the consumer merge did not add. */
const RUN_ALL = 0;
const SKIP_OVERRIDDEN = 1;
const ONLY_CONSUMER_ADDED = 2;
type SkipMode = typeof RUN_ALL | typeof SKIP_OVERRIDDEN | typeof ONLY_CONSUMER_ADDED;

function skipped(mode: SkipMode, inst: Instance, run: PluginRun, route: RoutePlugins | undefined): boolean {
  if (mode === SKIP_OVERRIDDEN) return routeOverrides(run, inst);
  // The route's rewrite handlers already ran; now those of plugins only the consumer
  // (or its group) brought in. One that replaced a route instance already had its rewrite.
  return (inst.origin !== 'consumer' && inst.origin !== 'consumer_group') || inst.plugin.type === 'auth'
    || route!.sources.some((s) => s.name === inst.name);
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
  const w = run.costWeight;
  let t = -1;
  for (let i = from; i < chain.length; i++) {
    const inst = chain[i]!;
    if (mode !== RUN_ALL && skipped(mode, inst, run, route)) continue;
    if (inst.filter !== undefined && !run.passesFilter(inst)) continue;
    if (w !== 0 && t < 0) t = performance.now();
    let out: PhaseResult | void | Promise<PhaseResult | void>;
    try {
      out = (inst.handlers[pi] as RequestHandler).call(inst.plugin, inst.prepared, run);
    } catch (err) {
      if (w !== 0) inst.cost.observe(pi, performance.now() - t, w);
      return failed(inst, phase, err, run);
    }
    if (isPromise(out)) return resumePhase(out, chain, phase, run, mode, route, i, t);
    if (w !== 0) {
      const end = performance.now();
      inst.cost.observe(pi, end - t, w);
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
  return Promise.resolve(out).then((r) => {
    if (started >= 0) inst.cost.observe(pi, performance.now() - started, run.costWeight);
    return decisionOf(inst, r, run) ?? runPhase(chain, phase, run, mode, route, i + 1);
  }, (err: unknown) => {
    if (started >= 0) inst.cost.observe(pi, performance.now() - started, run.costWeight);
    return failed(inst, phase, err, run);
  });
}

function decisionOf(inst: Instance, r: PhaseResult | void, run: PluginRun): Decision | undefined {
  return r !== undefined && r !== null && typeof r === 'object' && typeof r.status === 'number' ? toDecision(inst, r, run) : undefined;
}

function failed(inst: Instance, phase: string, err: unknown, run: PluginRun): Decision {
  run.log.error({ plugin: inst.name, phase, err: (err as Error)?.message ?? String(err), route_id: run.routeId },
    `plugin ${inst.name} failed in ${phase}`);
  return toDecision({ ...inst, errorResponse: undefined }, INTERNAL_ERROR, run);
}

/** A global instance of a `prefer_route` plugin (prometheus) gives way to the route's own instance, in every phase. */
function routeOverrides(run: PluginRun, inst: Instance): boolean {
  if (inst.plugin.runPolicy !== 'prefer_route') return false;
  const all = run.routeChain.all;
  for (let i = 0; i < all.length; i++) if (all[i]!.name === inst.name) return true;
  return false;
}

const STEPS = 9;

/** Step `k` of the request side; the order is the seeds' (see runRequestSide). */
function step(k: number, run: PluginRun, plugins: PluginSnapshot, route: RoutePlugins | undefined): Outcome {
  const g = run.globalChain;
  switch (k) {
    case 0: return runPhase(g.preflight, 'preflight', run, SKIP_OVERRIDDEN);
    case 1: return runPhase(run.routeChain.preflight, 'preflight', run);
    case 2: return runPhase(g.rewrite, 'rewrite', run, SKIP_OVERRIDDEN);
    case 3:
      if (run.consumerPending && route !== undefined) mergeConsumer(run, plugins, route);
      return runPhase(g.access, 'access', run, SKIP_OVERRIDDEN);
    case 4: return route === undefined ? undefined : runPhase(run.routeChain.rewrite, 'rewrite', run);
    case 5:
      if (route === undefined || !run.consumerPending) return undefined;
      mergeConsumer(run, plugins, route);
      return runPhase(run.routeChain.rewrite, 'rewrite', run, ONLY_CONSUMER_ADDED, route);
    case 6: return route === undefined ? undefined : runPhase(run.routeChain.access, 'access', run);
    case 7: return route === undefined ? undefined : runPhase(g.before_proxy, 'before_proxy', run, SKIP_OVERRIDDEN);
    case 8: return route === undefined ? undefined : runPhase(run.routeChain.before_proxy, 'before_proxy', run);
    default: return undefined;
  }
}

/**
 * The request side, in the seeds' order: preflight hooks; global rules' rewrite then
 * access; the route's rewrite; the consumer merge (and the rewrite of the consumer's
 * own non-auth plugins); the route's access; then before_proxy (global, route). Returns
 * synchronously unless a handler returned a promise.
 */
export function runRequestSide(run: PluginRun, plugins: PluginSnapshot, route: RoutePlugins | undefined, from = 0): Outcome {
  for (let k = from; k < STEPS; k++) {
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

/**
 * header_filter: headers plugins set ahead of the response (setResponseHeader) go on
 * first; then the route's instances in reverse order, then the global ones. Errors are
 * logged, never fatal.
 */
export function runHeaderFilter(run: PluginRun): void {
  run.applyPendingResponseHeaders();
  run.statusKnown = true;
  headerFilterChain(run.routeChain, run, false);
  headerFilterChain(run.globalChain, run, true);
}

const HEADER_FILTER = PHASE_INDEX.header_filter;
const BODY_FILTER = PHASE_INDEX.body_filter;
const LOG = PHASE_INDEX.log;

function headerFilterChain(chain: Chain, run: PluginRun, global: boolean): void {
  const list = chain.header_filter;
  const w = run.costWeight;
  let t = -1;
  for (let i = 0; i < list.length; i++) {
    const inst = list[i]!;
    if (global && routeOverrides(run, inst)) continue;
    if (inst.filter !== undefined && !run.passesFilter(inst)) continue;
    if (w !== 0 && t < 0) t = performance.now();
    try {
      (inst.handlers[HEADER_FILTER] as HeaderFilterHandler).call(inst.plugin, inst.prepared, run);
    } catch (err) {
      run.log.error({ plugin: inst.name, phase: 'header_filter', err: (err as Error)?.message }, `plugin ${inst.name} failed in header_filter`);
    }
    if (w !== 0) {
      const end = performance.now();
      inst.cost.observe(HEADER_FILTER, end - t, w);
      t = end;
    }
  }
}

export function hasBodyFilters(run: PluginRun): boolean {
  return run.routeChain.body_filter.length > 0 || run.globalChain.body_filter.length > 0;
}

/** body_filter over one chunk; the chunk a handler returns replaces it for the next one. */
export function runBodyFilter(run: PluginRun, chunk: Buffer, eof: boolean): Buffer {
  return bodyFilterChain(run.globalChain, run, bodyFilterChain(run.routeChain, run, chunk, eof, false), eof, true);
}

function bodyFilterChain(chain: Chain, run: PluginRun, chunk: Buffer, eof: boolean, global: boolean): Buffer {
  let out = chunk;
  const w = run.costWeight;
  let t = -1;
  for (const inst of chain.body_filter) {
    if (global && routeOverrides(run, inst)) continue;
    if (!run.passesFilter(inst)) continue;
    if (w !== 0 && t < 0) t = performance.now();
    try {
      const r = (inst.handlers[BODY_FILTER] as BodyFilterHandler).call(inst.plugin, inst.prepared, run, out, eof) as unknown;
      if (Buffer.isBuffer(r)) out = r;
      else if (typeof r === 'string') out = Buffer.from(r);
      else if (r !== undefined) throw new Error(`body_filter must return a Buffer, a string or nothing, got ${r === null ? 'null' : typeof r}`);
    } catch (err) {
      run.log.error({ plugin: inst.name, phase: 'body_filter', err: (err as Error)?.message }, `plugin ${inst.name} failed in body_filter`);
      if (err instanceof ResponseFailure) throw err;
    }
    if (w !== 0) {
      const end = performance.now();
      inst.cost.observe(BODY_FILTER, end - t, w);
      t = end;
    }
  }
  return out;
}

/**
 * log: after the response is done; failures only logged. Synchronous while the handlers
 * are; an async handler is awaited before the next one runs (a promise then).
 */
export function runLog(run: PluginRun): void | Promise<void> {
  const r = logChain(run.routeChain.log, run, false, 0);
  if (r !== undefined) return thenGlobalLog(r, run);
  return logChain(run.globalChain.log, run, true, 0);
}

function thenGlobalLog(r: Promise<void>, run: PluginRun): Promise<void> {
  return r.then(() => logChain(run.globalChain.log, run, true, 0));
}

function logChain(chain: readonly Instance[], run: PluginRun, global: boolean, from: number): void | Promise<void> {
  const w = run.costWeight;
  let t = -1;
  for (let i = from; i < chain.length; i++) {
    const inst = chain[i]!;
    if (global && routeOverrides(run, inst)) continue;
    if (inst.filter !== undefined && !run.passesFilter(inst)) continue;
    if (w !== 0 && t < 0) t = performance.now();
    let out: void | Promise<void> = undefined;
    try {
      out = (inst.handlers[LOG] as LogHandler).call(inst.plugin, inst.prepared, run);
    } catch (err) {
      logFailed(inst, run, err);
    }
    if (isPromise(out)) return resumeLog(out as Promise<void>, chain, run, global, i, t);
    if (w !== 0) {
      const end = performance.now();
      inst.cost.observe(LOG, end - t, w);
      t = end;
    }
  }
  return undefined;
}

function resumeLog(out: Promise<void>, chain: readonly Instance[], run: PluginRun, global: boolean, i: number,
  started: number): Promise<void> {
  const inst = chain[i]!;
  return out.then(undefined, (err: unknown) => logFailed(inst, run, err)).then(() => {
    if (started >= 0) inst.cost.observe(LOG, performance.now() - started, run.costWeight);
    return logChain(chain, run, global, i + 1);
  });
}

function logFailed(inst: Instance, run: PluginRun, err: unknown): void {
  run.log.error({ plugin: inst.name, phase: 'log', err: (err as Error)?.message }, `plugin ${inst.name} failed in log`);
}
