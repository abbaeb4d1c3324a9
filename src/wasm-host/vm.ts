import { ABI_MARKERS, LOG_LEVELS, Status, type AbiVersion } from './abi/constants.js';
import { GuestMemory } from './abi/guest-memory.js';
import { envImports } from './abi/env.js';
import { ProcExit, wasiImports } from './abi/wasi.js';
import type { AbiHost, CallResponse, ContextHost, HttpCallRequest, RootHost, StreamHost } from './abi/host.js';
import { DeadlineExceeded, WasmFault, WasmLoadError, type FaultKind } from './faults.js';
import { RootContext } from './root-context.js';
import { START_EXPORT } from './binary/instrument.js';
import type { GuestCallbacks, GuestExport, VmHandle, VmOptions } from './vm-handle.js';

export type { VmOptions } from './vm-handle.js';

const KNOWN_MODULES = new Set(['env', 'wasi_snapshot_preview1', 'wasi_unstable', 'gatehouse']);

export function abiVersionOf(module: WebAssembly.Module): AbiVersion | undefined {
  for (const e of WebAssembly.Module.exports(module)) {
    const v = ABI_MARKERS[e.name];
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * One instance of a plugin's module in this worker, with its root contexts (one per
 * distinct configuration) and the HTTP streams in flight. Guest calls run on this
 * thread, synchronously; each has a deadline the instrumented module checks at loop
 * headers. A call that traps, overruns or exits breaks the VM: `broken` is set, the
 * streams waiting on it fail, and the owner (WasmPluginRuntime) builds a new one.
 */
export class WasmVm implements AbiHost, VmHandle {
  readonly memory = new GuestMemory();
  readonly abi: AbiVersion;
  readonly vmConfiguration: Buffer;
  readonly cb: GuestCallbacks;
  broken: WasmFault | undefined;
  /** Memory grew past the limit: finish what runs, take no new stream. */
  retiring = false;
  private readonly instance: WebAssembly.Instance;
  /** Root contexts by id. */
  private readonly rootsById = new Map<number, RootHost>();
  /**
   * HTTP streams in flight, unordered (a stream knows its slot; removal moves the last one
   * into it). Not a Map: a Map that takes and drops one entry per request made every
   * request's objects survive young-generation GCs (measured: scavenges 5× slower, 20 %
   * of throughput); the guest names a stream by id only in set_effective_context, a scan.
   */
  private readonly liveStreams: StreamHost[] = [];
  private readonly roots = new Map<string, RootContext>();
  private readonly rootsByBuffer = new WeakMap<Buffer, RootContext>();
  private nextId = 1;
  private effectiveCtx: ContextHost | undefined;
  private depth = 0;
  private deadline = 0;
  private call: CallResponse | undefined;
  private readonly faultListeners: ((f: WasmFault) => void)[] = [];
  private readonly pendingCalls = new Map<number, { root: RootContext; streamId: number | undefined }>();
  private nextToken = 1;

  private constructor(module: WebAssembly.Module, readonly opts: VmOptions) {
    const abi = abiVersionOf(module);
    if (abi === undefined) throw new WasmLoadError('missing or unknown proxy-wasm ABI version (no proxy_abi_version_0_1_0, _0_2_0, _0_2_1 or _0_2_100 export)');
    this.abi = abi;
    this.vmConfiguration = opts.vmConfiguration;
    const imports = this.importObject(module);
    try {
      this.instance = new WebAssembly.Instance(module, imports);
    } catch (err) {
      throw new WasmLoadError(`the module could not be instantiated: ${faultDetail(err, opts.callTimeoutMs)}`);
    }
    const ex = this.instance.exports as Record<string, unknown>;
    const fn = (name: string): GuestExport | undefined => (typeof ex[name] === 'function' ? ex[name] as GuestExport : undefined);
    const memory = ex.memory instanceof WebAssembly.Memory ? ex.memory : this.importedMemory;
    if (memory === undefined) throw new WasmLoadError('the module exports no memory');
    const alloc = fn('malloc') ?? fn('proxy_on_memory_allocate');
    if (alloc === undefined) throw new WasmLoadError('the module exports no allocator (malloc or proxy_on_memory_allocate)');
    this.memory.bind(memory, (size) => alloc(size) as number);
    const contextCreate = fn('proxy_on_context_create');
    if (contextCreate === undefined) throw new WasmLoadError('the module does not export proxy_on_context_create');
    this.cb = {
      contextCreate,
      vmStart: fn('proxy_on_vm_start'), configure: fn('proxy_on_configure'),
      requestHeaders: fn('proxy_on_request_headers'), requestBody: fn('proxy_on_request_body'),
      responseHeaders: fn('proxy_on_response_headers'), responseBody: fn('proxy_on_response_body'),
      done: fn('proxy_on_done'), log: fn('proxy_on_log'), delete: fn('proxy_on_delete'),
      tick: fn('proxy_on_tick'), httpCallResponse: fn('proxy_on_http_call_response'), queueReady: fn('proxy_on_queue_ready'),
    };
  }

  /**
   * Instantiates and starts the module: a start section runs during instantiation,
   * `_initialize` (a WASI reactor) then `main`/`__main_void` when exported, else `_start`
   * (a WASI command; `proc_exit(0)` from it ends start-up normally, as TinyGo does).
   */
  static create(module: WebAssembly.Module, opts: VmOptions): WasmVm {
    const vm = new WasmVm(module, opts);
    const ex = vm.instance.exports as Record<string, unknown>;
    const run = (name: string, ...args: number[]): void => {
      const f = ex[name];
      if (typeof f !== 'function') return;
      vm.deadline = performance.now() + opts.callTimeoutMs * 10;
      vm.depth++;
      try {
        (f as GuestExport)(...args);
      } catch (err) {
        if (err instanceof ProcExit && err.code === 0) return;
        throw new WasmLoadError(`start-up (${name}) failed: ${faultDetail(err, opts.callTimeoutMs * 10)}`);
      } finally {
        vm.depth--;
      }
    };
    // the module's start section, moved to an export by the instrumentation (binary/instrument.ts)
    run(START_EXPORT);
    if (typeof ex._initialize === 'function') {
      run('_initialize');
      if (typeof ex.main === 'function') run('main', 0, 0);
      else run('__main_void');
    } else {
      run('_start');
    }
    return vm;
  }

  private importedMemory: WebAssembly.Memory | undefined;

  private importObject(module: WebAssembly.Module): WebAssembly.Imports {
    const env: Record<string, unknown> = envImports(this);
    const wasi = wasiImports({
      memory: this.memory, environ: this.opts.environ,
      writeLine: (fd, line) => this.log(fd === 1 ? 2 : 4, line),
    });
    for (const imp of WebAssembly.Module.imports(module)) {
      if (!KNOWN_MODULES.has(imp.module)) {
        throw new WasmLoadError(`the module imports ${imp.module}.${imp.name}: unknown import module "${imp.module}" (a proxy-wasm plugin imports env, wasi_snapshot_preview1 and wasi_unstable only)`);
      }
      if (imp.module === 'env' && !(imp.name in env)) {
        if (imp.kind === 'memory') {
          this.importedMemory = new WebAssembly.Memory({ initial: 1, maximum: Math.floor(this.opts.memoryLimitBytes / 65536) });
          env[imp.name] = this.importedMemory;
        } else if (imp.kind === 'function') {
          // Every proxy_* the host does not know answers UNIMPLEMENTED; other env imports
          // (emscripten_notify_memory_growth) are no-ops.
          env[imp.name] = imp.name.startsWith('proxy_') ? () => Status.UNIMPLEMENTED : () => 0;
        } else {
          throw new WasmLoadError(`the module imports env.${imp.name} (a ${imp.kind}), which the host does not provide`);
        }
      }
      if (imp.module.startsWith('wasi_') && !(imp.name in wasi)) {
        if (imp.kind !== 'function') throw new WasmLoadError(`the module imports ${imp.module}.${imp.name} (a ${imp.kind}), which the host does not provide`);
        (wasi as Record<string, unknown>)[imp.name] = () => 52; // ENOSYS
      }
    }
    return {
      env: env as WebAssembly.ModuleImports,
      wasi_snapshot_preview1: wasi as WebAssembly.ModuleImports,
      wasi_unstable: wasi as WebAssembly.ModuleImports,
      gatehouse: { deadline_check: () => this.deadlineCheck() },
    };
  }

  // ---- guest calls --------------------------------------------------------------------------

  /**
   * Calls a guest callback with `ctx` as the effective context. A fault breaks the VM
   * and is thrown as a WasmFault naming the plugin and the callback.
   */
  invoke(name: string, fn: GuestExport, ctx: ContextHost | undefined, a: number, b = 0, c = 0, d = 0, e = 0): number {
    if (this.broken !== undefined) throw this.broken;
    const prev = this.effectiveCtx;
    this.effectiveCtx = ctx;
    if (this.depth === 0) this.deadline = performance.now() + this.opts.callTimeoutMs;
    this.depth++;
    try {
      const r = fn(a, b, c, d, e);
      return typeof r === 'number' ? r : 0;
    } catch (err) {
      throw this.fail(name, err);
    } finally {
      this.depth--;
      this.effectiveCtx = prev;
      if (this.depth === 0 && this.memory.byteLength >= this.opts.memoryLimitBytes && !this.retiring) {
        this.retire(`it grew its memory to its limit of ${this.opts.memoryLimitBytes} bytes`);
      }
    }
  }

  retire(reason: string): void {
    if (this.retiring) return;
    this.retiring = true;
    if (this.liveStreams.length === 0) queueMicrotask(() => { if (this.liveStreams.length === 0) this.dispose(); });
    this.opts.log.warn({ plugin: this.opts.pluginName, memory_bytes: this.memory.byteLength },
      `wasm plugin ${this.opts.pluginName}: ${reason}; its VM is rebuilt`);
  }

  deadlineCheck(): void {
    if (performance.now() > this.deadline) throw new DeadlineExceeded(this.opts.callTimeoutMs);
  }

  private fail(callback: string, err: unknown): WasmFault {
    if (err instanceof WasmFault) return err;
    const kind: FaultKind = err instanceof DeadlineExceeded ? 'deadline' : err instanceof ProcExit ? 'exit'
      : err instanceof RangeError ? 'memory' : err instanceof WebAssembly.RuntimeError ? 'trap' : 'host';
    const fault = new WasmFault(this.opts.pluginName, callback, kind, faultDetail(err, this.opts.callTimeoutMs));
    if (this.broken === undefined) {
      this.broken = fault;
      this.opts.log.error({ plugin: this.opts.pluginName, callback, fault: kind }, `${fault.message}; the VM is rebuilt`);
      this.dispose();
      for (const c of [...this.liveStreams]) c.abort(fault);
      for (const l of this.faultListeners) l(fault);
    }
    return fault;
  }

  onFault(listener: (f: WasmFault) => void): void {
    this.faultListeners.push(listener);
  }

  // ---- contexts ------------------------------------------------------------------------------

  allocateId(): number {
    return this.nextId++;
  }

  register(ctx: ContextHost): void {
    if (ctx.kind === 'root') {
      this.rootsById.set(ctx.id, ctx);
      return;
    }
    ctx.slot = this.liveStreams.length;
    this.liveStreams.push(ctx);
  }

  unregister(ctx: ContextHost): void {
    if (ctx.kind === 'root') {
      this.rootsById.delete(ctx.id);
      return;
    }
    const slot = ctx.slot;
    if (slot < 0 || this.liveStreams[slot] !== ctx) return;
    const last = this.liveStreams.pop()!;
    if (last !== ctx) {
      this.liveStreams[slot] = last;
      last.slot = slot;
    }
    ctx.slot = -1;
    // a retired VM goes once its last request is done (its timers and roots with it)
    if (this.liveStreams.length === 0 && this.retiring) this.dispose();
  }

  private context(id: number): ContextHost | undefined {
    return this.rootsById.get(id) ?? this.liveStreams.find((s) => s.id === id);
  }

  /** The root context for a configuration, created (context_create, vm_start, configure) on first use. */
  root(configuration: Buffer): RootContext {
    // a prepared configuration is the same Buffer on every request: found by identity first
    const known = this.rootsByBuffer.get(configuration);
    if (known !== undefined && !known.closed) return known;
    const key = configuration.toString('latin1');
    let r = this.roots.get(key);
    if (r === undefined) {
      r = new RootContext(this, this.allocateId(), configuration);
      this.roots.set(key, r);
      this.register(r);
      r.start();
      // A VM keeps at most 256 configurations; the least recently used one goes first.
      if (this.roots.size > 256) {
        const [oldest] = this.roots;
        this.roots.delete(oldest![0]);
        oldest![1].close();
      }
    } else {
      this.roots.delete(key);
      this.roots.set(key, r);
    }
    this.rootsByBuffer.set(configuration, r);
    return r;
  }

  effective(): ContextHost | undefined {
    return this.effectiveCtx;
  }

  setEffective(id: number): number {
    const c = this.context(id);
    if (c === undefined) return Status.BAD_ARGUMENT;
    this.effectiveCtx = c;
    return Status.OK;
  }

  callResponse(): CallResponse | undefined {
    return this.call;
  }

  log(level: number, message: string): void {
    const lvl = LOG_LEVELS[level] ?? 'info';
    this.opts.log[lvl]({ plugin: this.opts.pluginName }, message);
  }

  logEnabled(level: number): boolean {
    return this.opts.log.isLevelEnabled(LOG_LEVELS[level] ?? 'info');
  }

  logLevel(): number {
    const i = LOG_LEVELS.indexOf(this.opts.log.level as (typeof LOG_LEVELS)[number]);
    return i < 0 ? 2 : i;
  }

  // ---- http calls -----------------------------------------------------------------------------

  httpCall(req: HttpCallRequest): number {
    const ctx = this.effectiveCtx;
    if (ctx === undefined) return -Status.BAD_ARGUMENT;
    const root = (ctx.kind === 'root' ? ctx : ctx.root) as RootContext;
    const started = this.opts.services.httpCall(req, ctx.kind === 'stream' ? ctx.ctx : undefined);
    if (typeof started === 'number') return -started;
    const token = this.nextToken++;
    this.pendingCalls.set(token, { root, streamId: ctx.kind === 'stream' ? ctx.id : undefined });
    started.then((res) => this.deliverCall(token, res), () => this.deliverCall(token, undefined));
    return token;
  }

  /** An http_call answered (undefined: it failed or timed out, delivered with no headers). */
  private deliverCall(token: number, res: CallResponse | undefined): void {
    const pending = this.pendingCalls.get(token);
    this.pendingCalls.delete(token);
    if (pending === undefined || this.broken !== undefined || pending.root.closed) return;
    // A stream deleted meanwhile gets nothing: the SDKs panic on unknown contexts.
    if (pending.streamId !== undefined && this.context(pending.streamId) === undefined) return;
    const cb = this.cb.httpCallResponse;
    if (cb === undefined) return;
    this.call = res ?? { headers: [], body: Buffer.alloc(0), trailers: [], status: 0 };
    try {
      this.invoke('proxy_on_http_call_response', cb, pending.root, pending.root.id, token,
        res === undefined ? 0 : res.headers.length >> 1, this.call.body.length, res === undefined ? 0 : res.trailers.length >> 1);
    } catch {
      // the fault is logged and the waiting streams failed by fail()
    } finally {
      this.call = undefined;
    }
  }

  // ---- shared state and metrics (services scoped by vm id / plugin) ----------------------------

  sharedGet(key: string): { value: Buffer; cas: number } | undefined {
    return this.opts.services.sharedData(this.opts.vmId).get(key);
  }

  sharedSet(key: string, value: Buffer, cas: number): number {
    return this.opts.services.sharedData(this.opts.vmId).set(key, value, cas);
  }

  queueRegister(name: string): number {
    const ctx = this.effectiveCtx;
    const root = ctx === undefined ? undefined : (ctx.kind === 'root' ? ctx : ctx.root) as RootContext;
    return this.opts.services.queues.register(this.opts.vmId, name, root === undefined ? undefined : (id) => root.queueReady(id));
  }

  queueResolve(vmId: string, name: string): number | undefined {
    // another VM's queues are out of reach: plugins are isolated from each other
    return vmId === this.opts.vmId || vmId === '' ? this.opts.services.queues.resolve(this.opts.vmId, name) : undefined;
  }

  queueEnqueue(id: number, value: Buffer): number {
    return this.opts.services.queues.enqueue(this.opts.vmId, id, value);
  }

  queueDequeue(id: number): Buffer | number {
    return this.opts.services.queues.dequeue(this.opts.vmId, id);
  }

  defineMetric(type: number, name: string): number | undefined {
    return this.opts.services.metrics.define(this.opts.pluginName, type, name);
  }

  incrementMetric(id: number, delta: bigint): number {
    return this.opts.services.metrics.increment(this.opts.pluginName, id, delta);
  }

  recordMetric(id: number, value: bigint): number {
    return this.opts.services.metrics.record(this.opts.pluginName, id, value);
  }

  getMetric(id: number): bigint | undefined {
    return this.opts.services.metrics.get(this.opts.pluginName, id);
  }

  /** Stops the VM's timers and drops its roots (the VM is broken or replaced). */
  dispose(): void {
    for (const r of this.roots.values()) r.close(false);
    this.roots.clear();
    this.pendingCalls.clear();
  }

  /** The root contexts (for tests and the plugin check). */
  rootContexts(): readonly RootHost[] {
    return [...this.roots.values()];
  }
}

function faultDetail(err: unknown, limitMs: number): string {
  if (err instanceof DeadlineExceeded) return `it did not return within ${limitMs} ms`;
  if (err instanceof ProcExit) return `it exited with proc_exit(${err.code})`;
  if (err instanceof RangeError) return `it exhausted its stack or memory (${err.message})`;
  if (err instanceof WebAssembly.RuntimeError) return `it trapped (${err.message})`;
  return err instanceof Error ? err.message : String(err);
}
