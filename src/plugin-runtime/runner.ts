import type { PhaseResult, RequestPhase } from '../contracts/plugin.js';
import type { Chain, Instance } from './chain.js';
import type { PluginRun } from './plugin-run.js';
import type { PluginSnapshot, RoutePlugins } from './plugin-snapshot.js';

// The only place phases are sequenced and decisions acted on: handlers return a
// PhaseResult and the runner ends the request, applies `_meta.error_response`, logs the
// warn line, and turns a throw into a 500 for this request only.

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
  for (let i = 0; i < chain.length; i++) {
    const inst = chain[i]!;
    if (skip !== undefined && skip(inst)) continue;
    if (!run.passesFilter(inst)) continue;
    let r: PhaseResult | void;
    try {
      const out = inst.plugin[phase]!(inst.prepared, run);
      r = isPromise(out) ? await out : out;
    } catch (err) {
      run.log.error({ plugin: inst.name, phase, err: (err as Error)?.message ?? String(err), route_id: run.routeId },
        `plugin ${inst.name} failed in ${phase}`);
      r = INTERNAL_ERROR;
      return { ...toDecision({ ...inst, errorResponse: undefined }, r, run) };
    }
    if (r !== undefined && r !== null && typeof r === 'object' && typeof r.status === 'number') return toDecision(inst, r, run);
  }
  return undefined;
}

/** Skips the global instance of a `prefer_route` plugin the route configures too. */
function preferRoute(run: PluginRun): (inst: Instance) => boolean {
  return (inst) => inst.plugin.runPolicy === 'prefer_route' && run.routeChain.all.some((r) => r.name === inst.name);
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
  filterEach(run.routeChain, run, (i) => i.plugin.header_filter!(i.prepared, run), 'header_filter');
  filterEach(run.globalChain, run, (i) => i.plugin.header_filter!(i.prepared, run), 'header_filter');
}

function filterEach(chain: Chain, run: PluginRun, call: (i: Instance) => void, phase: 'header_filter'): void {
  for (const inst of chain[phase]) {
    if (!run.passesFilter(inst)) continue;
    try {
      call(inst);
    } catch (err) {
      run.log.error({ plugin: inst.name, phase, err: (err as Error)?.message }, `plugin ${inst.name} failed in ${phase}`);
    }
  }
}

export function hasBodyFilters(run: PluginRun): boolean {
  return run.routeChain.body_filter.length > 0 || run.globalChain.body_filter.length > 0;
}

/** body_filter over one chunk; the chunk a handler returns replaces it for the next one. */
export function runBodyFilter(run: PluginRun, chunk: Buffer, eof: boolean): Buffer {
  let out = chunk;
  for (const chain of [run.routeChain, run.globalChain]) {
    for (const inst of chain.body_filter) {
      if (!run.passesFilter(inst)) continue;
      try {
        const r = inst.plugin.body_filter!(inst.prepared, run, out, eof);
        if (r !== undefined) out = r;
      } catch (err) {
        run.log.error({ plugin: inst.name, phase: 'body_filter', err: (err as Error)?.message }, `plugin ${inst.name} failed in body_filter`);
      }
    }
  }
  return out;
}

/** log: after the response is done; async handlers are awaited one by one, failures only logged. */
export async function runLog(run: PluginRun): Promise<void> {
  for (const chain of [run.routeChain, run.globalChain]) {
    for (const inst of chain.log) {
      if (!run.passesFilter(inst)) continue;
      try {
        await inst.plugin.log!(inst.prepared, run);
      } catch (err) {
        run.log.error({ plugin: inst.name, phase: 'log', err: (err as Error)?.message }, `plugin ${inst.name} failed in log`);
      }
    }
  }
}
