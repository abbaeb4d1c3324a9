import type { PluginContext } from '../contracts/plugin.js';

// What a user function may ask the gateway for, one `host(op, …)` call from the prelude
// at a time. Every argument arrives copied (primitives, plain data) and every answer
// leaves as plain data: no gateway object (the request, the logger, the consumer with its
// credentials) is ever reachable from the isolate. A consumer is reduced to its public
// fields; its `plugins` (keys, secrets) stay out.

/** Longest log line a function may write; longer ones are cut. */
const MAX_LOG_CHARS = 4096;

/** Plain data for the isolate: primitives as they are, anything else as its JSON copy. */
function plain(v: unknown): unknown {
  if (v === undefined || v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return String(v);
  try {
    return JSON.parse(JSON.stringify(v)) as unknown;
  } catch {
    return String(v);
  }
}

function optionalText(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new TypeError(`${what} must be a string`);
  return v;
}

export interface BridgeHooks {
  /** The plugin whose function is running, for log lines. */
  pluginName(): string;
  setTimer(id: number, ms: number): void;
  clearTimer(id: number): void;
  settled(id: number): void;
  /** Whether one more log line is allowed for this request. */
  mayLog(): boolean;
}

/** Answers one host call of the prelude for the request `ctx`. */
export function answerHostCall(ctx: PluginContext, hooks: BridgeHooks, op: string, a?: unknown, b?: unknown): unknown {
  switch (op) {
    case 'var': return plain(ctx.var(String(a)));
    case 'var.set': ctx.setVar(String(a), plain(b)); return undefined;
    case 'req.method': return ctx.request.method;
    case 'req.uri': return ctx.request.uri;
    case 'req.host': return ctx.request.host;
    case 'req.remoteAddr': return ctx.request.remoteAddr;
    case 'req.header': return ctx.request.header(String(a));
    case 'req.setHeader': ctx.request.setHeader(String(a), optionalText(b, `request header "${String(a)}"`)); return undefined;
    case 'req.arg': return ctx.request.arg(String(a));
    case 'req.headers': return plain(ctx.request.allHeaders?.() ?? {});
    case 'req.upstreamUri': return ctx.request.upstreamUri;
    case 'req.setUpstreamUri': ctx.request.upstreamUri = String(a); return undefined;
    case 'req.upstreamHost': return ctx.request.upstreamHost;
    case 'req.setUpstreamHost': ctx.request.upstreamHost = optionalText(a, 'upstreamHost'); return undefined;
    case 'req.upstreamMethod': return ctx.request.upstreamMethod;
    case 'req.setUpstreamMethod': ctx.request.upstreamMethod = optionalText(a, 'upstreamMethod'); return undefined;
    case 'res.status': return ctx.response.status;
    case 'res.setStatus': ctx.response.status = a as number; return undefined;
    case 'res.header': return ctx.response.header(String(a));
    case 'res.setHeader': ctx.response.setHeader(String(a), optionalText(b, `response header "${String(a)}"`)); return undefined;
    case 'res.addHeader': ctx.response.addHeader(String(a), optionalText(b, `response header "${String(a)}"`) ?? ''); return undefined;
    case 'res.headers': return plain(ctx.response.allHeaders?.() ?? {});
    case 'setResponseHeader': ctx.setResponseHeader(String(a), optionalText(b, `response header "${String(a)}"`)); return undefined;
    case 'routeId': return ctx.routeId;
    case 'serviceId': return ctx.serviceId;
    case 'startedAt': return ctx.startedAt;
    case 'consumer': {
      const c = ctx.consumer;
      if (c === undefined) return undefined;
      return plain({ username: c.username, group_id: c.group_id, credential_id: c.credential_id, labels: c.labels });
    }
    case 'log': {
      if (!hooks.mayLog()) return undefined;
      const level = a === 'debug' || a === 'info' || a === 'warn' || a === 'error' ? a : 'info';
      const name = hooks.pluginName();
      ctx.log[level]({ plugin: name }, `${name}: ${String(b).slice(0, MAX_LOG_CHARS)}`);
      return undefined;
    }
    case 'timer.set': hooks.setTimer(a as number, b as number); return undefined;
    case 'timer.clear': hooks.clearTimer(a as number); return undefined;
    case 'settled': hooks.settled(a as number); return undefined;
    default: throw new Error(`unknown host call ${String(op)}`);
  }
}
