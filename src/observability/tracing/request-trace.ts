import type { HandlerCall, TraceRecorder, UpstreamAttempt } from '../../contracts/trace-record.js';

/** Handler calls kept per request at most: a bound on memory, whatever a chain or a response does. */
export const MAX_HANDLER_CALLS = 256;
/** Upstream attempts kept per request at most (retries are bounded by `retries` anyway). */
export const MAX_UPSTREAM_ATTEMPTS = 32;

/**
 * One request's record for tracing plugins (contracts/trace-record.ts): made by the
 * lifecycle when the node config's `tracing` is on and the request's chains hold a plugin
 * that shows handler calls (it then records them from the first one), or on a tracing plugin's first ask
 * (`PluginContext.traceRecord`), which records upstream attempts only.
 */
export class RequestTrace implements TraceRecorder {
  handlerCalls: HandlerCall[] | undefined;
  readonly upstreamAttempts: UpstreamAttempt[] = [];

  constructor(recordCalls: boolean) {
    this.handlerCalls = recordCalls ? [] : undefined;
  }

  get recordsCalls(): boolean {
    return this.handlerCalls !== undefined;
  }

  stopHandlerCalls(): void {
    this.handlerCalls = undefined;
  }

  handlerCall(phase: string, plugin: string, start: number, end: number): void {
    const calls = this.handlerCalls;
    if (calls === undefined) return;
    if (phase === 'body_filter') {
      // one entry per plugin for the whole body: the chunks' calls of one response are interleaved by plugin
      for (let i = calls.length - 1; i >= 0 && calls[i]!.phase === 'body_filter'; i--) {
        const c = calls[i]!;
        if (c.plugin === plugin) {
          c.end = end;
          c.calls++;
          return;
        }
      }
    }
    if (calls.length < MAX_HANDLER_CALLS) calls.push({ phase, plugin, start, end, calls: 1 });
  }

  upstreamAttempt(attempt: UpstreamAttempt): void {
    if (this.upstreamAttempts.length < MAX_UPSTREAM_ATTEMPTS) this.upstreamAttempts.push(attempt);
  }
}
