import type { PhaseResult, RequestPhase } from '../contracts/plugin.js';
import type { Chain, Instance } from './chain.js';
import type { PluginRun } from './plugin-run.js';
import type { PluginSnapshot, RoutePlugins } from './plugin-snapshot.js';
import { PHASE_INDEX } from '../observability/plugin-cost.js';

// The only place phases are sequenced and decisions acted on: handlers return a
// PhaseResult and the runner ends the request, applies `_meta.error_response`, logs the
// warn line, and turns a throw into a 500 for this request only.
//
// Every handler call is timed into its instance's cost series, exported as
// gatehouse_plugin_phase_duration_seconds{plugin, phase}. A clock read costs ~50 ns, so
// consecutive handlers of one phase share them: a handler's end is the next one's start
// (the runner's few checks in between count toward the next plugin), n + 1 reads for n
// handlers and none for a phase with nothing to run. Measured at ~85 ns per handler call
// in all, not sampled: every call is counted and the histogram's count stays the number
// of calls.

/** A decision the runner made, ready to be written by the data plane. */
export interface Decision {
  status: number;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

const INTERNAL_ERROR: PhaseResult = { status: 500, body: { error_msg: 'Internal Server Error' } };

function toDecision(inst: Instance, r: PhaseResult, run: PluginRun): Decision {
  const headers: Record<string, string> = { ...(r.headers ?? {}) };
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

/** Runs one request-side phase of one chain. Returns a decision when a handler ends the request. */
async function runPhase(chain: readonly Instance[], phase: RequestPhase | 'preflight', run: PluginRun,
  skip?: (inst: Instance) => boolean): Promise<Decision | undefined> {
  const pi = PHASE_INDEX[phase];
  let t = -1;
  for (let i = 0; i < chain.length; i++) {
    const inst = chain[i]!;
    if (skip !== undefined && skip(inst)) continue;
    if (!run.passesFilter(inst)) continue;
    let r: PhaseResult | void;
    if (t < 0) t = performance.now();
    try {
      const out = inst.plugin[phase]!(inst.prepared, run);
      r = isPromise(out) ? await out : out;
    } catch (err) {
      run.log.error({ plugin: inst.name, phase, err: (err as Error)?.message ?? String(err), route_id: run.routeId },
        `plugin ${inst.name} failed in ${phase}`);
      r = INTERNAL_ERROR;
      return { ...toDecision({ ...inst, errorResponse: undefined }, r, run) };
    } finally {
      const end = performance.now();
      inst.cost.observe(pi, end - t);
      t = end;
    }
    if (r !== undefined && r !== null && typeof r === 'object' && typeof r.status === 'number') return toDecision(inst, r, run);
  }
  return undefined;
}

/** Skips the global instance of a `prefer_route` plugin the route configures too. */
function preferRoute(run: PluginRun): (inst: Instance) => boolean {
  return (inst) => routeOverrides(run, inst);
}

/** A global instance of a `prefer_route` plugin (prometheus) gives way to the route's own instance, in every phase. */
function routeOverrides(run: PluginRun, inst: Instance): boolean {
  if (inst.plugin.runPolicy !== 'prefer_route') return false;
  const all = run.routeChain.all;
  for (let i = 0; i < all.length; i++) if (all[i]!.name === inst.name) return true;
  return false;
}

/**
 * The request side, in the seeds' order: preflight hooks; global rules' rewrite then
 * access; the route's rewrite; the consumer merge (and the rewrite of the consumer's
 * own non-auth plugins); the route's access; then before_proxy (global, route).
 */
export async function runRequestSide(run: PluginRun, plugins: PluginSnapshot, route: RoutePlugins | undefined): Promise<Decision | undefined> {
  const g = run.globalChain;
  const skipGlobal = preferRoute(run);
  let d = await runPhase(g.preflight, 'preflight', run, skipGlobal) ?? await runPhase(run.routeChain.preflight, 'preflight', run);
  if (d !== undefined) return d;
  d = await runPhase(g.rewrite, 'rewrite', run, skipGlobal);
  if (d !== undefined) return d;
  if (run.consumerPending && route !== undefined) mergeConsumer(run, plugins, route);
  d = await runPhase(g.access, 'access', run, skipGlobal);
  if (d !== undefined) return d;
  if (route === undefined) return undefined;
  d = await runPhase(run.routeChain.rewrite, 'rewrite', run);
  if (d !== undefined) return d;
  if (run.consumerPending) {
    mergeConsumer(run, plugins, route);
    // The route's rewrite handlers already ran; now those of plugins only the consumer
    // (or its group) brought in. One that replaced a route instance already had its rewrite.
    d = await runPhase(run.routeChain.rewrite, 'rewrite', run,
      (inst) => (inst.origin !== 'consumer' && inst.origin !== 'consumer_group') || inst.plugin.type === 'auth'
        || route.sources.some((s) => s.name === inst.name));
    if (d !== undefined) return d;
  }
  d = await runPhase(run.routeChain.access, 'access', run);
  if (d !== undefined) return d;
  return await runPhase(g.before_proxy, 'before_proxy', run, skipGlobal) ?? await runPhase(run.routeChain.before_proxy, 'before_proxy', run);
}

function mergeConsumer(run: PluginRun, plugins: PluginSnapshot, route: RoutePlugins): void {
  run.consumerPending = false;
  if (run.consumer === undefined || run.ex.route === undefined) return;
  run.routeChain = plugins.withConsumer(run.ex.route.id, route, run.consumer);
}

/** header_filter: the route's instances in reverse order, then the global ones. Errors are logged, never fatal. */
export function runHeaderFilter(run: PluginRun): void {
  run.ex.vars.set('status', run.response.status);
  // before any response byte: loggers measure bytes_sent from here
  if (run.writtenAtStart < 0 && (run.routeChain.log.length > 0 || run.globalChain.log.length > 0)) run.markSizes();
  headerFilterChain(run.routeChain, run, false);
  headerFilterChain(run.globalChain, run, true);
}

const HEADER_FILTER = PHASE_INDEX.header_filter;
const BODY_FILTER = PHASE_INDEX.body_filter;
const LOG = PHASE_INDEX.log;

function headerFilterChain(chain: Chain, run: PluginRun, global: boolean): void {
  let t = -1;
  for (const inst of chain.header_filter) {
    if (global && routeOverrides(run, inst)) continue;
    if (!run.passesFilter(inst)) continue;
    if (t < 0) t = performance.now();
    try {
      inst.plugin.header_filter!(inst.prepared, run);
    } catch (err) {
      run.log.error({ plugin: inst.name, phase: 'header_filter', err: (err as Error)?.message }, `plugin ${inst.name} failed in header_filter`);
    }
    const end = performance.now();
    inst.cost.observe(HEADER_FILTER, end - t);
    t = end;
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
  let t = -1;
  for (const inst of chain.body_filter) {
    if (global && routeOverrides(run, inst)) continue;
    if (!run.passesFilter(inst)) continue;
    if (t < 0) t = performance.now();
    try {
      const r = inst.plugin.body_filter!(inst.prepared, run, out, eof);
      if (r !== undefined) out = r;
    } catch (err) {
      run.log.error({ plugin: inst.name, phase: 'body_filter', err: (err as Error)?.message }, `plugin ${inst.name} failed in body_filter`);
    }
    const end = performance.now();
    inst.cost.observe(BODY_FILTER, end - t);
    t = end;
  }
  return out;
}

/** log: after the response is done; async handlers are awaited one by one, failures only logged. */
export async function runLog(run: PluginRun): Promise<void> {
  await logChain(run.routeChain, run, false);
  await logChain(run.globalChain, run, true);
}

async function logChain(chain: Chain, run: PluginRun, global: boolean): Promise<void> {
  let t = -1;
  for (const inst of chain.log) {
    if (global && routeOverrides(run, inst)) continue;
    if (!run.passesFilter(inst)) continue;
    if (t < 0) t = performance.now();
    try {
      const out = inst.plugin.log!(inst.prepared, run);
      if (isPromise(out)) await out;
    } catch (err) {
      run.log.error({ plugin: inst.name, phase: 'log', err: (err as Error)?.message }, `plugin ${inst.name} failed in log`);
    }
    const end = performance.now();
    inst.cost.observe(LOG, end - t);
    t = end;
  }
}
