import ivm from 'isolated-vm';
import type { PluginContext } from '../contracts/plugin.js';
import { answerHostCall, type BridgeHooks } from './bridge.js';
import type { BlankContext, HostCalls } from './blank-context.js';

// One request's context in the isolate: made when the request's first serverless function
// runs, released when the request is finished (ctx.onFinished). Every entry into the
// isolate (defining a function, calling it, firing one of its timers) runs synchronously
// under the per-call deadline; a function's promise is followed by the gateway and must
// settle within the same deadline (the isolate has no I/O, only timers to wait for).

/** How a function is called and what is made of its result. */
export type CallMode = 'request' | 'body' | 'ignore';

/** A function's result as the prelude reduced it (plain data, copied out). */
export interface CallOutcome {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  chunk?: string | Uint8Array;
  /** typeof a request-phase return value that was not a decision. */
  ignored?: string;
}

/** One `functions` entry, compiled (per isolate) by the sandbox. */
export interface CompiledEntry {
  label: string;
  script: ivm.Script;
}

/** A function overran its deadline; its request fails (500), the isolate carries on. */
export class DeadlineError extends Error {}

/** What the session needs from the sandbox that made it. */
export interface SessionOwner {
  readonly timeoutMs: number;
  /** Called after an entry failed: rebuilds the isolate if it was lost (out of memory). */
  checkIsolate(label: string): Error | undefined;
  sessionEnded(): void;
}

/**
 * Per request, what a function may make the gateway hold or write outside the isolate's
 * own heap limit: live timers, and log lines (more are dropped).
 */
export const MAX_TIMERS = 100;
export const MAX_LOG_LINES = 100;

type Pending = { resolve: (o: CallOutcome) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; label: string };

export class RequestSession implements HostCalls {
  private readonly slots = new Map<CompiledEntry, number>();
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly pending = new Map<number, Pending>();
  private readonly settledIds: number[] = [];
  private readonly hooks: BridgeHooks;
  private plugin = '';
  private label = '';
  private ended = false;
  private logLines = 0;

  constructor(private readonly owner: SessionOwner, private readonly blank: BlankContext, private readonly ctx: PluginContext) {
    this.hooks = {
      pluginName: () => this.plugin,
      setTimer: (id, ms) => this.setTimer(id, ms),
      clearTimer: (id) => this.clearTimer(id),
      settled: (id) => this.settledIds.push(id),
      mayLog: () => ++this.logLines <= MAX_LOG_LINES,
    };
    blank.bind(this);
  }

  hostCall(op: string, a?: unknown, b?: unknown): unknown {
    return answerHostCall(this.ctx, this.hooks, op, a, b);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /**
   * Calls one function of plugin `plugin` with (conf, ctx[, chunk, eof]). Synchronous
   * unless the function returned a promise. Throws (or rejects) what the function threw,
   * a DeadlineError, or the isolate's loss.
   */
  call(plugin: string, entry: CompiledEntry, conf: unknown, mode: CallMode, chunk?: Buffer, eof?: boolean):
    CallOutcome | Promise<CallOutcome> {
    if (this.ended) throw new Error(`${entry.label}: the request already finished`);
    // an allocation bomb elsewhere took this request's context with the isolate: its state is gone
    if (this.blank.isolate.isDisposed) throw new Error(`${entry.label}: the serverless isolate was lost during this request`);
    this.plugin = plugin;
    const slot = this.slotOf(entry);
    const args: unknown[] = [slot, new ivm.ExternalCopy(conf).copyInto({ release: true }), mode];
    if (mode === 'body') args.push(new ivm.ExternalCopy(new Uint8Array(chunk!)).copyInto({ release: true }), eof === true);
    const out = this.enter(entry.label, () => this.blank.invoke.applySync(undefined, args, { result: { copy: true }, timeout: this.owner.timeoutMs })) as
      CallOutcome & { pending?: number };
    if (out.pending === undefined) return out;
    return new Promise<CallOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(out.pending!);
        reject(new DeadlineError(`${entry.label} did not finish within its ${this.owner.timeoutMs} ms deadline`));
      }, this.owner.timeoutMs);
      this.pending.set(out.pending!, { resolve, reject, timer, label: entry.label });
      this.deliverSettled();
    });
  }

  /** The entry's function in this context, its top-level code run on first use. */
  private slotOf(entry: CompiledEntry): number {
    let slot = this.slots.get(entry);
    if (slot !== undefined) return slot;
    slot = this.slots.size;
    this.enter(entry.label, () => {
      const fn = entry.script.runSync(this.blank.context, { reference: true, timeout: this.owner.timeoutMs }) as ivm.Reference;
      try {
        this.blank.define.applySync(undefined, [slot, fn.derefInto()], { timeout: this.owner.timeoutMs });
      } finally {
        fn.release();
      }
    });
    this.slots.set(entry, slot);
    return slot;
  }

  /** Runs one synchronous entry into the isolate, naming the function in what it throws. */
  private enter<T>(label: string, run: () => T): T {
    this.label = label;
    try {
      return run();
    } catch (err) {
      const lost = this.owner.checkIsolate(label);
      if (lost !== undefined) {
        this.release();
        throw lost;
      }
      const message = (err as Error)?.message ?? String(err);
      if (/^Script execution timed out/.test(message)) {
        throw new DeadlineError(`${label} did not finish within its ${this.owner.timeoutMs} ms deadline`);
      }
      const name = (err as Error)?.name ?? 'Error';
      throw new Error(`${label}: ${name}: ${message}`, { cause: err });
    } finally {
      this.deliverSettled();
    }
  }

  /** Hands settled promises' results to the calls waiting for them. */
  private deliverSettled(): void {
    // An id with no waiter yet is the call being made right now (its promise settled
    // before invoke returned): it stays queued until that call registers its waiter.
    for (let k = 0; k < this.settledIds.length && !this.ended; k++) {
      const id = this.settledIds[k]!;
      const waiter = this.pending.get(id);
      if (waiter === undefined) continue;
      this.settledIds.splice(k--, 1);
      let settled: { value?: CallOutcome; error?: string } | undefined;
      try {
        settled = this.blank.take.applySync(undefined, [id], { result: { copy: true }, timeout: this.owner.timeoutMs }) as typeof settled;
      } catch (err) {
        settled = { error: String(err) };
      }
      this.pending.delete(id);
      clearTimeout(waiter.timer);
      if (settled?.error !== undefined) waiter.reject(new Error(settled.error));
      else waiter.resolve(settled?.value ?? {});
    }
  }

  private setTimer(id: number, ms: number): void {
    if (this.timers.size >= MAX_TIMERS) throw new Error(`a request may have at most ${MAX_TIMERS} timers pending`);
    const delay = Math.min(Math.max(ms, 0), 2 ** 31 - 1);
    this.timers.set(id, setTimeout(() => {
      this.timers.delete(id);
      if (this.ended) return;
      try {
        this.enter(this.label, () => this.blank.fire.applySync(undefined, [id], { timeout: this.owner.timeoutMs }));
      } catch (err) {
        this.ctx.log.error({ plugin: this.plugin, err: (err as Error).message }, `${this.plugin}: a timer callback of ${this.label} failed`);
      }
    }, delay));
  }

  private clearTimer(id: number): void {
    const t = this.timers.get(id);
    if (t !== undefined) clearTimeout(t);
    this.timers.delete(id);
  }

  /** Frees the context; waiting calls fail, timers are cancelled. Idempotent. */
  release(): void {
    if (this.ended) return;
    this.ended = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`${p.label}: the request finished before the function did`));
    }
    this.pending.clear();
    this.owner.sessionEnded();
    this.blank.release();
  }
}
