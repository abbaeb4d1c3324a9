// A deadline for one outbound call, released the moment the call is done.
//
// Why not AbortSignal.timeout(ms): its signal, and the abort listener the HTTP client
// hangs on it (which holds the request and its body), stay alive until the timer fires.
// At a few hundred calls a second (span and log batches of ~100 KB, forward-auth on every
// request) they outlive two scavenges, move to old space and pile up until a major GC:
// measured, a worker exporting spans grew ~1 MB/s this way. A timer cleared at the end of
// the call lets it all go with the call.

export interface Deadline {
  readonly signal: AbortSignal;
  /** The call is over: the timer stops and nothing keeps the signal alive. */
  clear(): void;
}

/** Aborts after `ms` milliseconds, or as soon as `parent` aborts (the client went away). */
export function deadline(ms: number, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  if (parent?.aborted === true) {
    controller.abort(parent.reason);
    return { signal: controller.signal, clear: () => undefined };
  }
  const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms);
  timer.unref();
  const onParentAbort = (): void => controller.abort(parent!.reason);
  parent?.addEventListener('abort', onParentAbort, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParentAbort);
    },
  };
}

/** Runs `call` under a deadline of `ms` (and `parent`), cleared however the call ends. */
export async function withDeadline<T>(ms: number, call: (signal: AbortSignal) => Promise<T>, parent?: AbortSignal): Promise<T> {
  const d = deadline(ms, parent);
  try {
    return await call(d.signal);
  } finally {
    d.clear();
  }
}
