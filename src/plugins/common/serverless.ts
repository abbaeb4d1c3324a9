import vm from 'node:vm';
import type { Phase, PhaseResult, PluginContext } from '../../contracts/plugin.js';

// serverless-pre-function and serverless-post-function (apisix/plugins/serverless/
// init.lua): user functions run in one configured phase. APISIX takes Lua source that
// returns a function; Gatehouse takes JavaScript (docs/plugins/serverless.md):
//
//  * each entry of `functions` is an expression evaluating to a function, e.g.
//    "(conf, ctx) => { ctx.request.setHeader('x-a', '1') }", or a function body that
//    returns one ("return function (conf, ctx) { … }", the shape of APISIX's Lua);
//  * it is compiled and evaluated once, in prepare (a syntax error, a throw or a
//    non-function refuses the config at write time), in the gateway's own JS realm;
//  * it is called as fn(conf, ctx): `conf` is the plugin's validated config, `ctx` the
//    PluginContext (request, response, var/setVar, shared, log, consumer, …);
//  * in rewrite/access/before_proxy a function ends the request by returning
//    { status, body?, headers? }, a status number, or [status, body] (Lua's
//    `return code, body`); undefined continues with the next function. It may be async;
//  * in body_filter it is called fn(conf, ctx, chunk, eof) and may return a Buffer or
//    string replacing the chunk; header_filter and log results are ignored
//    (header_filter and body_filter are synchronous, so a returned promise is not awaited);
//  * a throw is a 500 for that request (the runner's rule for every plugin).
// Like APISIX's, these functions are trusted code with the gateway's full power: only
// Admin API users can write them.

export const SERVERLESS_PHASES = ['rewrite', 'access', 'header_filter', 'body_filter', 'log', 'before_proxy'] as const;
export type ServerlessPhase = (typeof SERVERLESS_PHASES)[number];

export interface ServerlessConf {
  phase: ServerlessPhase;
  functions: string[];
}

type UserFunction = (conf: ServerlessConf, ctx: PluginContext, chunk?: Buffer, eof?: boolean) => unknown;

export interface ServerlessPrepared {
  phase: Phase;
  functions: UserFunction[];
  conf: ServerlessConf;
  name: string;
}

/** Compiles one `functions` entry into the function it evaluates to. */
export function compileFunction(source: string, filename: string): UserFunction {
  const statementForm = /^\s*return\b/.test(source);
  const wrapped = statementForm ? `(function () {\n${source}\n})()` : `(\n${source}\n)`;
  let script: vm.Script;
  try {
    script = new vm.Script(wrapped, { filename, lineOffset: -1 });
  } catch (err) {
    throw new Error(`failed to compile ${filename}: ${String(err)}`);
  }
  let value: unknown;
  try {
    value = script.runInThisContext({ timeout: 1000, displayErrors: false });
  } catch (err) {
    throw new Error(`failed to evaluate ${filename}: ${String(err)}`);
  }
  if (typeof value !== 'function') {
    throw new Error(`only accept JavaScript function, the input code type is ${value === null ? 'null' : typeof value} (${filename})`);
  }
  return value as UserFunction;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/** What a request-phase function returned, as a PhaseResult (undefined = continue). */
export function toPhaseResult(v: unknown, ctx: PluginContext, name: string): PhaseResult | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return { status: v };
  if (Array.isArray(v)) {
    const [code, body] = v as [unknown, unknown];
    if ((code === undefined || code === null) && (body === undefined || body === null)) return undefined;
    return { status: typeof code === 'number' ? code : 200, ...(body !== undefined && body !== null ? { body } : {}) };
  }
  if (typeof v === 'object' && typeof (v as { status?: unknown }).status === 'number') return v as PhaseResult;
  ctx.log.warn({ plugin: name }, `${name}: ignored a function's return value that is not a status, [status, body] or { status, body, headers }`);
  return undefined;
}

function runRequestPhase(p: ServerlessPrepared, ctx: PluginContext): PhaseResult | undefined | Promise<PhaseResult | undefined> {
  const fns = p.functions;
  for (let i = 0; i < fns.length; i++) {
    const out = fns[i]!(p.conf, ctx);
    if (isThenable(out)) return continueAsync(p, ctx, i, out);
    const result = toPhaseResult(out, ctx, p.name);
    if (result !== undefined) return result;
  }
  return undefined;
}

async function continueAsync(p: ServerlessPrepared, ctx: PluginContext, at: number, pending: PromiseLike<unknown>):
  Promise<PhaseResult | undefined> {
  let result = toPhaseResult(await pending, ctx, p.name);
  if (result !== undefined) return result;
  for (let i = at + 1; i < p.functions.length; i++) {
    result = toPhaseResult(await p.functions[i]!(p.conf, ctx), ctx, p.name);
    if (result !== undefined) return result;
  }
  return undefined;
}

function runIgnoringResult(p: ServerlessPrepared, ctx: PluginContext): void {
  for (const fn of p.functions) {
    const out = fn(p.conf, ctx);
    if (isThenable(out)) {
      Promise.resolve(out).catch((err: unknown) => {
        ctx.log.error({ plugin: p.name, err: (err as Error)?.message }, `${p.name}: ${p.phase} function failed`);
      });
    }
  }
}

async function runLog(p: ServerlessPrepared, ctx: PluginContext): Promise<void> {
  for (const fn of p.functions) await fn(p.conf, ctx);
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
    },

    prepare(conf: ServerlessConf): ServerlessPrepared {
      return {
        phase: conf.phase ?? 'access',
        functions: conf.functions.map((src, i) => compileFunction(src, `${name}/functions[${i}]`)),
        conf,
        name,
      };
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
      if (p.phase === 'header_filter') runIgnoringResult(p, ctx);
    },
    filtersBody: (p: ServerlessPrepared): boolean => p.phase === 'body_filter',
    body_filter(p: ServerlessPrepared, ctx: PluginContext, chunk: Buffer, eof: boolean): Buffer | undefined {
      if (p.phase !== 'body_filter') return undefined;
      let current = chunk;
      let replaced = false;
      for (const fn of p.functions) {
        const out = fn(p.conf, ctx, current, eof);
        if (typeof out === 'string') {
          current = Buffer.from(out);
          replaced = true;
        } else if (Buffer.isBuffer(out)) {
          current = out;
          replaced = true;
        } else if (out instanceof Uint8Array) {
          current = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
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
