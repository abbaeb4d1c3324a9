/**
 * What a request leaves for tracing plugins to turn into spans: the upstream attempts it
 * made and, when the node config's `tracing` is on, the plugin handler calls it ran. Times
 * are `performance.now()` milliseconds, as `PluginContext.startedAt`.
 */

/** One plugin's work in one phase: body_filter's calls (one per chunk) are folded into one. */
export interface HandlerCall {
  readonly phase: string;
  readonly plugin: string;
  readonly start: number;
  end: number;
  /** How many calls this stands for (body_filter: one per chunk; otherwise 1). */
  calls: number;
}

/** One try at an upstream node. */
export interface UpstreamAttempt {
  readonly host: string;
  readonly port: number;
  readonly start: number;
  readonly end: number;
  /** The node's response status, when it answered. */
  readonly status: number | undefined;
  /** Why the attempt failed (a catalogued error code or the socket's), when it did. */
  readonly error: string | undefined;
}

/** The reading side, for tracing plugins (`PluginContext.traceRecord`). */
export interface TraceRecord {
  /** Handler calls so far; undefined when they are not recorded (node config `tracing` off). */
  readonly handlerCalls: readonly HandlerCall[] | undefined;
  readonly upstreamAttempts: readonly UpstreamAttempt[];
}

/** The writing side, for the plugin runner and the upstream legs. */
export interface TraceRecorder extends TraceRecord {
  /** Whether handler calls are recorded (the runner times them only then). */
  readonly recordsCalls: boolean;
  handlerCall(phase: string, plugin: string, start: number, end: number): void;
  /** No plugin will show this request's handler calls: recording stops, what was kept is let go. */
  stopHandlerCalls(): void;
  upstreamAttempt(attempt: UpstreamAttempt): void;
}
