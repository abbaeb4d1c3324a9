import type { Phase, PhaseResult, PluginContext } from '../../contracts/plugin.js';
import { checkSyntax } from '../../serverless/source.js';
import { sandbox, SessionLimitError } from '../../serverless/sandbox.js';
import type { CallMode, CallOutcome } from '../../serverless/session.js';

// serverless-pre-function and serverless-post-function (apisix/plugins/serverless/
// init.lua): user functions run in one configured phase. APISIX takes Lua source that
// returns a function; Gatehouse takes JavaScript (docs/plugins/serverless.md):
//
//  * each entry of `functions` is an expression evaluating to a function, e.g.
//    "(conf, ctx) => { ctx.request.setHeader('x-a', '1') }", or a body that returns one
//    ("return function (conf, ctx) { … }", the shape of APISIX's Lua);
//  * prepare only compiles it (a syntax error refuses the config at write time); none of
//    it runs where configs are validated (the primary);
//  * it runs in the worker's isolate (src/serverless/): a fresh context per request, the
//    top-level code evaluated there on first use, then fn(conf, ctx) with the request's
//    one `ctx` (shared by every function of the request, pre and post alike);
//  * in rewrite/access/before_proxy a function ends the request by returning
//    { status, body?, headers? }, a status number, or [status, body]; it may be async;
//  * in body_filter it is called fn(conf, ctx, chunk, eof) and may return bytes or a
//    string replacing the chunk; header_filter and log results are ignored;
//  * a throw, a deadline overrun, a non-function or the isolate running out of memory
//    fails that request (500, logged with the plugin's name); too many requests holding
//    a context at once get 503.

export const SERVERLESS_PHASES = ['rewrite', 'access', 'header_filter', 'body_filter', 'log', 'before_proxy'] as const;
export type ServerlessPhase = (typeof SERVERLESS_PHASES)[number];

export interface ServerlessConf {
  phase: ServerlessPhase;
  functions: string[];
}

/** One `functions` entry: its source and the name errors and stack traces give it. */
export interface FunctionEntry {
  source: string;
  label: string;
}

export interface ServerlessPrepared {
  phase: Phase;
  entries: FunctionEntry[];
  conf: ServerlessConf;
  name: string;
}

const BUSY: PhaseResult = { status: 503, body: { error_msg: 'Service Unavailable' } };

/** What a request-phase function returned, as a PhaseResult (undefined = continue). */
function toPhaseResult(o: CallOutcome, ctx: PluginContext, name: string): PhaseResult | undefined {
  if (o.ignored !== undefined) {
    ctx.log.warn({ plugin: name }, `${name}: ignored a function's return value that is not a status, [status, body] or { status, body, headers }`);
    return undefined;
  }
  if (o.status === undefined) return undefined;
  const r: PhaseResult = { status: o.status };
  if (o.body !== undefined) r.body = o.body instanceof Uint8Array ? Buffer.from(o.body) : o.body;
  if (o.headers !== undefined) r.headers = o.headers;
  return r;
}

function call(p: ServerlessPrepared, ctx: PluginContext, i: number, mode: CallMode, chunk?: Buffer, eof?: boolean):
  CallOutcome | Promise<CallOutcome> {
  const box = sandbox();
  return box.session(ctx).call(p.name, box.compile(p.entries[i]!), p.conf, mode, chunk, eof);
}

function runRequestPhase(p: ServerlessPrepared, ctx: PluginContext): PhaseResult | undefined | Promise<PhaseResult | undefined> {
  try {
    for (let i = 0; i < p.entries.length; i++) {
      const out = call(p, ctx, i, 'request');
      if (out instanceof Promise) return continueAsync(p, ctx, i, out);
      const result = toPhaseResult(out, ctx, p.name);
      if (result !== undefined) return result;
    }
  } catch (err) {
    if (err instanceof SessionLimitError) return busy(p, ctx, err);
    throw err;
  }
  return undefined;
}

function busy(p: ServerlessPrepared, ctx: PluginContext, err: Error): PhaseResult {
  ctx.log.error({ plugin: p.name, err: err.message }, `${p.name}: ${err.message}`);
  return BUSY;
}

async function continueAsync(p: ServerlessPrepared, ctx: PluginContext, at: number, pending: Promise<CallOutcome>):
  Promise<PhaseResult | undefined> {
  let result = toPhaseResult(await pending, ctx, p.name);
  if (result !== undefined) return result;
  for (let i = at + 1; i < p.entries.length; i++) {
    result = toPhaseResult(await call(p, ctx, i, 'request'), ctx, p.name);
    if (result !== undefined) return result;
  }
  return undefined;
}

/** header_filter: synchronous; a function's promise is not awaited, its failure is logged. */
function runHeaderFilter(p: ServerlessPrepared, ctx: PluginContext): void {
  for (let i = 0; i < p.entries.length; i++) {
    const out = call(p, ctx, i, 'ignore');
    if (out instanceof Promise) {
      out.catch((err: unknown) => {
        ctx.log.error({ plugin: p.name, err: (err as Error)?.message }, `${p.name}: ${p.phase} function failed`);
      });
    }
  }
}

async function runLog(p: ServerlessPrepared, ctx: PluginContext): Promise<void> {
  for (let i = 0; i < p.entries.length; i++) await call(p, ctx, i, 'ignore');
}

/** Schema, prepare and handlers shared by both serverless plugins. */
export function serverless(name: string) {
  return {
    schema: {
      type: 'object',
      properties: {
        phase: { type: 'string', default: 'access', enum: [...SERVERLESS_PHASES] },
        functions: { type: 'array', items: { type: 'string' }, minItems: 1 },
      },
      required: ['functions'],
      // an unknown field is refused by name, not ignored
      additionalProperties: false,
    },

    // Compile only: this runs wherever a config is checked, the primary included.
    prepare(conf: ServerlessConf): ServerlessPrepared {
      const entries = conf.functions.map((source, i) => ({ source, label: `plugins.${name}.functions[${i}]` }));
      for (const e of entries) checkSyntax(e.source, e.label);
      return { phase: conf.phase ?? 'access', entries, conf, name };
    },

    rewrite(p: ServerlessPrepared, ctx: PluginContext) {
      return p.phase === 'rewrite' ? runRequestPhase(p, ctx) : undefined;
    },
    access(p: ServerlessPrepared, ctx: PluginContext) {
      return p.phase === 'access' ? runRequestPhase(p, ctx) : undefined;
    },
    before_proxy(p: ServerlessPrepared, ctx: PluginContext) {
      return p.phase === 'before_proxy' ? runRequestPhase(p, ctx) : undefined;
    },
    header_filter(p: ServerlessPrepared, ctx: PluginContext): void {
      if (p.phase === 'header_filter') runHeaderFilter(p, ctx);
    },
    filtersBody: (p: ServerlessPrepared): boolean => p.phase === 'body_filter',
    body_filter(p: ServerlessPrepared, ctx: PluginContext, chunk: Buffer, eof: boolean): Buffer | undefined {
      if (p.phase !== 'body_filter') return undefined;
      let current = chunk;
      let replaced = false;
      for (let i = 0; i < p.entries.length; i++) {
        const out = call(p, ctx, i, 'body', current, eof);
        if (out instanceof Promise) {
          out.catch(() => undefined);
          throw new Error(`${p.entries[i]!.label}: a body_filter function must not be async`);
        }
        if (typeof out.chunk === 'string') {
          current = Buffer.from(out.chunk);
          replaced = true;
        } else if (out.chunk instanceof Uint8Array) {
          current = Buffer.from(out.chunk.buffer, out.chunk.byteOffset, out.chunk.byteLength);
          replaced = true;
        }
      }
      return replaced ? current : undefined;
    },
    log(p: ServerlessPrepared, ctx: PluginContext): void | Promise<void> {
      if (p.phase !== 'log') return undefined;
      return runLog(p, ctx);
    },
  };
}
