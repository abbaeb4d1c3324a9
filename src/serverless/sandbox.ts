import ivm from 'isolated-vm';
import type { PluginContext } from '../contracts/plugin.js';
import { logger } from '../core/logger.js';
import { PRELUDE_SOURCE } from './prelude.js';
import { SCRIPT_LINE_OFFSET, scriptText } from './source.js';
import { RequestSession, type CompiledEntry, type SessionOwner } from './session.js';
import { blankContextAsync, blankContextSync, type BlankContext } from './blank-context.js';

// The isolate serverless functions run in: one per worker, shared by both serverless
// plugins, so the context of one request (and the `ctx` object in it) is common to all of
// its functions. The gateway's realm — process, require, import, files, env, keys — does
// not exist inside; the isolate reaches the request only through the bridge (bridge.ts).
//
// Memory: a V8 heap of `memoryLimitMb`. Each request with a serverless function holds a
// context (~160 KB) until it finishes; at most half the heap goes to contexts (spares
// made ahead included), and a request beyond that gets a SessionLimitError (503) instead
// of pushing the isolate out of memory for everyone. A heap that does run out (an
// allocation bomb) is disposed by isolated-vm: the functions running in it fail, and the
// next request builds a new isolate.

export interface SandboxOptions {
  /** V8 heap limit of the isolate, MB (isolated-vm's minimum is 8). */
  memoryLimitMb: number;
  /** Deadline of one call into the isolate, and of a function's promise, ms. */
  timeoutMs: number;
}

export const DEFAULT_SANDBOX_OPTIONS: SandboxOptions = { memoryLimitMb: 64, timeoutMs: 200 };

/** Measured size of a fresh context with the prelude, KB (isolated-vm 5, Node 20). */
const CONTEXT_KB = 160;

/**
 * Contexts kept made ahead (blank-context.ts). A few cover bursts of new requests; under
 * sustained load they run out and requests make their own, as without spares.
 */
const SPARE_CONTEXTS = 4;

/** The request cannot get a context now (too many requests hold one): a 503 for it. */
export class SessionLimitError extends Error {}

/** isolated-vm needs it on Node 20+: without it creating an isolate may crash the process. */
export function hasNoNodeSnapshotFlag(): boolean {
  return process.execArgv.includes('--no-node-snapshot') || (process.env.NODE_OPTIONS ?? '').includes('--no-node-snapshot');
}

export class Sandbox implements SessionOwner {
  private isolate: ivm.Isolate | undefined;
  private prelude: ivm.Script | undefined;
  private compiled = new WeakMap<object, CompiledEntry>();
  private readonly sessions = new WeakMap<PluginContext, RequestSession>();
  private openSessions = 0;
  private readonly spares: BlankContext[] = [];
  private refilling = false;
  /** How many isolates this sandbox built (1 + the number of rebuilds after a loss). */
  builds = 0;
  readonly maxSessions: number;

  constructor(readonly options: SandboxOptions = DEFAULT_SANDBOX_OPTIONS) {
    this.maxSessions = Math.max(1, Math.floor((options.memoryLimitMb * 1024) / 2 / CONTEXT_KB));
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  get liveSessions(): number {
    return this.openSessions;
  }

  private ensureIsolate(): ivm.Isolate {
    if (this.isolate !== undefined && !this.isolate.isDisposed) return this.isolate;
    if (!hasNoNodeSnapshotFlag()) {
      throw new Error('serverless functions need node to run with --no-node-snapshot (isolated-vm on Node 20+)');
    }
    const isolate = new ivm.Isolate({
      memoryLimit: this.options.memoryLimitMb,
      onCatastrophicError: (message) => {
        // isolated-vm's word: the process's V8 state can no longer be trusted.
        logger().fatal({ module: 'serverless', message }, 'serverless isolate: catastrophic error, the worker stops');
        process.abort();
      },
    });
    this.prelude = isolate.compileScriptSync(PRELUDE_SOURCE, { filename: 'serverless-prelude' });
    this.compiled = new WeakMap();
    this.isolate = isolate;
    this.builds++;
    return isolate;
  }

  /** A spare context of the current isolate, or a new one made now. */
  private takeBlank(): BlankContext {
    const isolate = this.ensureIsolate();
    let blank: BlankContext | undefined;
    while ((blank = this.spares.pop()) !== undefined) {
      if (blank.isolate === isolate) return blank;
      blank.release();
    }
    try {
      return blankContextSync(isolate, this.prelude!, this.options.timeoutMs);
    } catch (err) {
      throw this.checkIsolate('serverless-prelude') ?? err;
    }
  }

  /** Makes spare contexts, one at a time, off the event loop; stops at the context budget. */
  private refillSpares(): void {
    if (this.refilling || this.isolate === undefined) return;
    const isolate = this.isolate;
    const prelude = this.prelude!;
    if (this.spares.length >= SPARE_CONTEXTS || this.openSessions + this.spares.length >= this.maxSessions) return;
    this.refilling = true;
    blankContextAsync(isolate, prelude, this.options.timeoutMs).then((blank) => {
      this.refilling = false;
      if (isolate !== this.isolate || isolate.isDisposed) {
        blank.release();
        return;
      }
      this.spares.push(blank);
      this.refillSpares();
    }, (err: unknown) => {
      this.refilling = false;
      logger().debug({ module: 'serverless', err: (err as Error)?.message }, 'could not make a spare serverless context');
    });
  }

  /** Spare contexts ready now (for tests and diagnostics). */
  get spareContexts(): number {
    return this.spares.length;
  }

  /** The isolate was lost while `label` ran: an error for it, and the next use builds a new one. */
  checkIsolate(label: string): Error | undefined {
    if (this.isolate === undefined || !this.isolate.isDisposed) return undefined;
    this.isolate = undefined;
    this.prelude = undefined;
    logger().error({ module: 'serverless', function: label, memory_limit_mb: this.options.memoryLimitMb },
      'serverless isolate ran out of memory; it is rebuilt for the next request');
    return new Error(`${label} ran the serverless isolate out of memory (limit ${this.options.memoryLimitMb} MB)`);
  }

  /** Drops the isolate (every open session's calls fail from now on). */
  dispose(): void {
    for (const blank of this.spares.splice(0)) blank.release();
    const isolate = this.isolate;
    this.isolate = undefined;
    this.prelude = undefined;
    if (isolate !== undefined && !isolate.isDisposed) isolate.dispose();
  }

  sessionEnded(): void {
    this.openSessions--;
  }

  /** An entry's script in the current isolate, compiled on first use (never run here). */
  compile(entry: { source: string; label: string }): CompiledEntry {
    const isolate = this.ensureIsolate();
    let c = this.compiled.get(entry);
    if (c === undefined) {
      const script = isolate.compileScriptSync(scriptText(entry.source), { filename: entry.label, lineOffset: SCRIPT_LINE_OFFSET });
      c = { label: entry.label, script };
      this.compiled.set(entry, c);
    }
    return c;
  }

  /** The request's session, made on first use and released when the request finishes. */
  session(ctx: PluginContext): RequestSession {
    if (ctx.onFinished === undefined) throw new Error('serverless functions need a request context that reports when it finishes (onFinished)');
    const existing = this.sessions.get(ctx);
    if (existing !== undefined && !existing.isEnded) return existing;
    if (this.openSessions >= this.maxSessions) {
      throw new SessionLimitError(`too many requests are running serverless functions (${this.maxSessions} per worker)`);
    }
    const session = new RequestSession(this, this.takeBlank(), ctx);
    this.openSessions++;
    this.refillSpares();
    this.sessions.set(ctx, session);
    ctx.onFinished!(() => session.release());
    return session;
  }
}

let workerSandbox: Sandbox | undefined;
let workerOptions: SandboxOptions = DEFAULT_SANDBOX_OPTIONS;

/** Sets the options of this process's sandbox (the worker does, from config.yaml `serverless`). */
export function configureSandbox(options: SandboxOptions): void {
  workerOptions = options;
  workerSandbox?.dispose();
  workerSandbox = undefined;
}

/** This process's sandbox, built on first use (so never in a process that only validates). */
export function sandbox(): Sandbox {
  return workerSandbox ??= new Sandbox(workerOptions);
}
