import ivm from 'isolated-vm';

// A fresh context with the prelude run in it, not yet given to a request. Making one is
// most of what a request's first serverless function costs (a V8 context, ~0.5 ms here,
// plus the prelude), so the sandbox keeps a few made ahead with isolated-vm's async calls,
// which do the work on its own threads, not the event loop's. The prelude's `host`
// callback reaches whichever request the context is later bound to.

export interface HostCalls {
  hostCall(op: string, a?: unknown, b?: unknown): unknown;
}

export interface BlankContext {
  readonly isolate: ivm.Isolate;
  readonly context: ivm.Context;
  readonly define: ivm.Reference;
  readonly invoke: ivm.Reference;
  readonly take: ivm.Reference;
  readonly fire: ivm.Reference;
  /** Gives the context to one request: from now on its host calls are that request's. */
  bind(target: HostCalls): void;
  /** Frees the context and every reference into it (a lost isolate has nothing left to free). */
  release(): void;
}

function hostCallback(): { host: ivm.Callback; bind: (t: HostCalls) => void } {
  let target: HostCalls | undefined;
  const host = new ivm.Callback((op: string, a?: unknown, b?: unknown) => {
    if (target === undefined) throw new Error('this context serves no request');
    return target.hostCall(op, a, b);
  });
  return { host, bind: (t) => { target = t; } };
}

function assemble(isolate: ivm.Isolate, context: ivm.Context, refs: ivm.Reference[], api: ivm.Reference[],
  bind: (t: HostCalls) => void): BlankContext {
  const [define, invoke, take, fire] = api as [ivm.Reference, ivm.Reference, ivm.Reference, ivm.Reference];
  return {
    isolate, context, define, invoke, take, fire, bind,
    release() {
      try {
        for (const r of refs) r.release();
        for (const r of api) r.release();
        context.release();
      } catch {
        // the isolate is already gone (lost to its memory limit): nothing left to free
      }
    },
  };
}

const API = ['define', 'invoke', 'take', 'fire'] as const;

/** Makes a blank context now, on the calling thread (when no spare one is ready). */
export function blankContextSync(isolate: ivm.Isolate, prelude: ivm.Script, timeoutMs: number): BlankContext {
  const context = isolate.createContextSync();
  const refs: ivm.Reference[] = [];
  try {
    const { host, bind } = hostCallback();
    const init = prelude.runSync(context, { reference: true, timeout: timeoutMs }) as ivm.Reference;
    refs.push(init);
    const api = init.applySync(undefined, [host], { result: { reference: true }, timeout: timeoutMs }) as ivm.Reference;
    refs.push(api);
    return assemble(isolate, context, refs, API.map((k) => api.getSync(k, { reference: true }) as ivm.Reference), bind);
  } catch (err) {
    for (const r of refs) r.release();
    context.release();
    throw err;
  }
}

/** Makes a blank context on isolated-vm's threads, for the spares. */
export async function blankContextAsync(isolate: ivm.Isolate, prelude: ivm.Script, timeoutMs: number): Promise<BlankContext> {
  const context = await isolate.createContext();
  const refs: ivm.Reference[] = [];
  try {
    const { host, bind } = hostCallback();
    const init = await prelude.run(context, { reference: true, timeout: timeoutMs }) as ivm.Reference;
    refs.push(init);
    const api = await init.apply(undefined, [host], { result: { reference: true }, timeout: timeoutMs }) as ivm.Reference;
    refs.push(api);
    const methods = await Promise.all(API.map((k) => api.get(k, { reference: true }) as Promise<ivm.Reference>));
    return assemble(isolate, context, refs, methods, bind);
  } catch (err) {
    for (const r of refs) r.release();
    try {
      context.release();
    } catch {
      // lost isolate
    }
    throw err;
  }
}
