import type { Plugin } from '../contracts/plugin.js';
import type { Chain, Instance } from './chain.js';
import type { PluginRun } from './plugin-run.js';
import { isPromise, recordCall, routeOverrides, timesCalls } from './runner.js';
import { PHASE_INDEX } from '../observability/plugin-cost.js';
import { RESPONSE_CHAINS, SKIP_OVERRIDDEN } from './plan.js';
import { ResponseFailure } from './response-failure.js';

// The response side of a request: header_filter, body_filter and log, the route's
// instances (in reverse order: the onion) then the global ones. Failures are logged,
// never fatal: the response is already on its way. Each phase is synchronous while its
// handlers are; a handler that returns a promise is awaited (bounded by the plugin
// deadline, and by the client going away for header_filter and body_filter) before the
// next one runs, and the phase then returns a promise the caller waits for, holding the
// upstream's response meanwhile (backpressure kept). Timing (sampled requests, trace
// records) as in runner.ts.

type VoidHandler = (this: Plugin, prepared: unknown, ctx: PluginRun) => void | Promise<void>;
type BodyFilterHandler = (this: Plugin, prepared: unknown, ctx: PluginRun, chunk: Buffer, eof: boolean) => unknown;

const HEADER_FILTER = PHASE_INDEX.header_filter;
const BODY_FILTER = PHASE_INDEX.body_filter;
const LOG = PHASE_INDEX.log;

/** The c-th chain of RESPONSE_CHAINS for this request. */
function chainAt(run: PluginRun, c: number): Chain {
  return RESPONSE_CHAINS[c]!.chain === 'route' ? run.routeChain : run.globalChain;
}

function runs(inst: Instance, run: PluginRun, c: number, phase: number): boolean {
  if (RESPONSE_CHAINS[c]!.skip === SKIP_OVERRIDDEN && routeOverrides(run, inst)) return false;
  return inst.filter === undefined || run.passesFilter(inst, phase);
}

function logFailure(inst: Instance, run: PluginRun, phase: string, err: unknown): void {
  run.log.error({ plugin: inst.name, phase, err: (err as Error)?.message ?? String(err) }, `plugin ${inst.name} failed in ${phase}`);
}

/**
 * header_filter: headers plugins set ahead of the response (setResponseHeader) go on
 * first; then the route's instances in reverse order, then the global ones.
 */
export function runHeaderFilter(run: PluginRun): void | Promise<void> {
  run.applyPendingResponseHeaders();
  run.statusKnown = true;
  return voidPhaseFrom(run, 'header_filter', 0, 0);
}

/**
 * The phases whose handlers return nothing (header_filter, log), from handler `from` of
 * chain `c` on, through the rest of RESPONSE_CHAINS. header_filter stops waiting when the
 * client goes away; log runs after the response and waits only for the deadline.
 */
function voidPhaseFrom(run: PluginRun, phase: VoidPhase, c: number, from: number): void | Promise<void> {
  for (; c < RESPONSE_CHAINS.length; c++, from = 0) {
    const r = voidPhaseChain(run, phase, c, from);
    if (r !== undefined) return r;
  }
  return undefined;
}

type VoidPhase = 'header_filter' | 'log';

function voidPhaseChain(run: PluginRun, phase: VoidPhase, c: number, from: number): void | Promise<void> {
  const list = chainAt(run, c)[phase];
  const pi = phase === 'log' ? LOG : HEADER_FILTER;
  const timed = timesCalls(run);
  let t = -1;
  for (let i = from; i < list.length; i++) {
    const inst = list[i]!;
    if (!runs(inst, run, c, pi)) continue;
    if (timed && t < 0) t = performance.now();
    let out: void | Promise<void> = undefined;
    try {
      out = (inst.handlers[pi] as VoidHandler).call(inst.plugin, inst.prepared, run);
    } catch (err) {
      logFailure(inst, run, phase, err);
    }
    if (isPromise(out)) return resumeVoidPhase(out, run, phase, c, i, t);
    if (timed) {
      const end = performance.now();
      recordCall(run, inst, pi, t, end);
      t = end;
    }
  }
  return undefined;
}

function resumeVoidPhase(out: Promise<void>, run: PluginRun, phase: VoidPhase, c: number, i: number, started: number): Promise<void> {
  const inst = chainAt(run, c)[phase][i]!;
  return run.settle(out, inst.name, phase !== 'log').then(undefined, (err: unknown) => logFailure(inst, run, phase, err)).then(() => {
    if (started >= 0) recordCall(run, inst, phase === 'log' ? LOG : HEADER_FILTER, started, performance.now());
    return voidPhaseFrom(run, phase, c, i + 1);
  });
}

export function hasBodyFilters(run: PluginRun): boolean {
  return run.routeChain.body_filter.length > 0 || run.globalChain.body_filter.length > 0;
}

/**
 * body_filter over one chunk; the chunk a handler returns (or resolves to) replaces it
 * for the next one. A handler's ResponseFailure is thrown (or rejected) on to the caller,
 * which fails the request; any other error is logged and the chunk kept.
 */
export function runBodyFilter(run: PluginRun, chunk: Buffer, eof: boolean): Buffer | Promise<Buffer> {
  return bodyFilterFrom(run, chunk, eof, 0, 0);
}

function bodyFilterFrom(run: PluginRun, chunk: Buffer, eof: boolean, c: number, from: number): Buffer | Promise<Buffer> {
  let out = chunk;
  for (; c < RESPONSE_CHAINS.length; c++, from = 0) {
    const r = bodyFilterChain(run, out, eof, c, from);
    if (isPromise(r)) return r;
    out = r;
  }
  return out;
}

/** What a body_filter handler gave back: a replacement chunk, or (undefined) the chunk it was given. */
function chunkOf(r: unknown, given: Buffer): Buffer {
  if (r === undefined) return given;
  if (Buffer.isBuffer(r)) return r;
  if (typeof r === 'string') return Buffer.from(r);
  throw new Error(`body_filter must return a Buffer, a string or nothing, got ${r === null ? 'null' : typeof r}`);
}

function bodyFilterChain(run: PluginRun, chunk: Buffer, eof: boolean, c: number, from: number): Buffer | Promise<Buffer> {
  let out = chunk;
  const list = chainAt(run, c).body_filter;
  const timed = timesCalls(run);
  let t = -1;
  for (let i = from; i < list.length; i++) {
    const inst = list[i]!;
    if (!runs(inst, run, c, BODY_FILTER)) continue;
    if (timed && t < 0) t = performance.now();
    try {
      const r = (inst.handlers[BODY_FILTER] as BodyFilterHandler).call(inst.plugin, inst.prepared, run, out, eof);
      if (isPromise(r)) return resumeBodyFilter(r, run, out, eof, c, i, t);
      out = chunkOf(r, out);
    } catch (err) {
      logFailure(inst, run, 'body_filter', err);
      // the response cannot be produced at all (a body over a node bound): the request fails
      if (err instanceof ResponseFailure) throw err;
    }
    if (timed) {
      const end = performance.now();
      recordCall(run, inst, BODY_FILTER, t, end);
      t = end;
    }
  }
  return out;
}

function resumeBodyFilter(r: Promise<unknown>, run: PluginRun, given: Buffer, eof: boolean, c: number,
  i: number, started: number): Promise<Buffer> {
  const inst = chainAt(run, c).body_filter[i]!;
  return run.settle(r, inst.name, true).then((v) => chunkOf(v, given)).catch((err: unknown) => {
    logFailure(inst, run, 'body_filter', err);
    if (err instanceof ResponseFailure) throw err;
    return given;
  }).then((out) => {
    if (started >= 0) recordCall(run, inst, BODY_FILTER, started, performance.now());
    return bodyFilterFrom(run, out, eof, c, i + 1);
  });
}

/**
 * log: after the response is done; failures only logged. Synchronous while the handlers
 * are; an async handler is awaited (bounded by the plugin deadline) before the next runs.
 */
export function runLog(run: PluginRun): void | Promise<void> {
  return voidPhaseFrom(run, 'log', 0, 0);
}

/** The log phase, then the request's finish callbacks (PluginRun.finish), whether log ran synchronously or not. */
export function runLogAndFinish(run: PluginRun): void {
  let r: void | Promise<void>;
  try {
    r = runLog(run);
  } catch (err) {
    run.finish();
    throw err;
  }
  if (r === undefined) run.finish();
  else r.finally(() => run.finish()).catch(() => undefined);
}
