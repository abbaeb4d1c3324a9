import type { Logger } from 'pino';
import type { PhaseResult, Plugin, PluginContext, Stage } from '../contracts/plugin.js';
import { ResponseFailure } from '../plugin-runtime/response-failure.js';
import { RequestBodyRejected } from '../plugin-runtime/request-body-rejected.js';
import { pluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { WasmFault } from './faults.js';
import { compileRules, factsOf, selectConfiguration, type CompiledRules } from './rules.js';
import { HttpStream } from './stream.js';
import { WasmVm, type VmOptions } from './vm.js';
import type { VmServices } from './services.js';

export type FailStrategy = 'FAIL_CLOSE' | 'FAIL_OPEN';

/** A published wasm plugin as one worker runs it. */
export interface WasmPluginSpec {
  readonly name: string;
  readonly version: string;
  readonly stage: Stage;
  readonly priority: number;
  readonly description?: string;
  /** The compiled (instrumented) module; undefined where the plugin only validates configs (the primary). */
  readonly module: WebAssembly.Module | undefined;
  readonly rootId: string;
  readonly vmId?: string;
  readonly failStrategy: FailStrategy;
  /** Where on_request_headers runs (APISIX's `http_request_phase`); default rewrite. */
  readonly requestPhase?: 'rewrite' | 'access';
  readonly environ?: readonly string[];
  readonly callTimeoutMs: number;
  readonly memoryLimitBytes: number;
  readonly services: VmServices;
  readonly log: Logger;
}

const REBUILD_BACKOFF_MIN_MS = 1000;
const REBUILD_BACKOFF_MAX_MS = 30_000;

/**
 * The plugin's VM in this worker: built on first use, replaced when it breaks (a trap,
 * an overrun, memory past its limit). A module that cannot even start is retried with
 * a growing back-off (1 s to 30 s) so a broken plugin does not rebuild on every request.
 */
export class WasmPluginRuntime {
  private vm: WasmVm | undefined;
  private retryAt = 0;
  private backoff = REBUILD_BACKOFF_MIN_MS;
  private lastError: Error | undefined;
  builds = 0;

  constructor(private readonly opts: VmOptions, private readonly module: WebAssembly.Module | undefined) {}

  acquire(): WasmVm {
    const vm = this.vm;
    if (vm !== undefined && vm.broken === undefined && !vm.retiring) return vm;
    // a retiring VM finishes its requests and disposes itself (vm.unregister)
    this.vm = undefined;
    if (performance.now() < this.retryAt) throw this.lastError!;
    if (this.module === undefined) throw new WasmFault(this.opts.pluginName, 'start', 'host', 'the module is not loaded in this process');
    try {
      this.builds++;
      this.vm = WasmVm.create(this.module, this.opts);
      this.backoff = REBUILD_BACKOFF_MIN_MS;
      return this.vm;
    } catch (err) {
      this.lastError = new WasmFault(this.opts.pluginName, 'start', 'host', (err as Error).message);
      this.retryAt = performance.now() + this.backoff;
      this.opts.log.error({ plugin: this.opts.pluginName, retry_in_ms: this.backoff }, this.lastError.message);
      this.backoff = Math.min(REBUILD_BACKOFF_MAX_MS, this.backoff * 2);
      throw this.lastError;
    }
  }

  dispose(): void {
    this.vm?.dispose();
    this.vm = undefined;
  }
}

interface Prepared {
  readonly rules: CompiledRules;
}

function hasRequestBody(ctx: PluginContext): boolean {
  const cl = ctx.request.header('content-length');
  if (cl !== undefined) return cl !== '0';
  return ctx.request.header('transfer-encoding') !== undefined;
}

function responseHasBody(ctx: PluginContext): boolean {
  const s = ctx.response.status;
  if (ctx.request.method === 'HEAD' || s === 204 || s === 304 || (s >= 100 && s < 200)) return false;
  return ctx.response.header('content-length') !== '0';
}

/**
 * A wasm plugin as the plugin runtime sees it: the same object as a built-in (name,
 * stage, priority, schema, phase handlers), so ordering, `_meta`, filters, the chain
 * inspector and the cost histograms treat it like any other. on_request_headers runs
 * in rewrite; on_response_headers in header_filter; on_response_body in body_filter;
 * on_done, on_log and on_delete in log. The configuration (any JSON object) reaches
 * on_configure as JSON, `_rules_` chosen per request (rules.ts).
 */
export function wasmPlugin(spec: WasmPluginSpec): Plugin<Record<string, unknown>, Prepared> & { runtime: WasmPluginRuntime } {
  const runtime = new WasmPluginRuntime({
    pluginName: spec.name, rootId: spec.rootId, vmId: spec.vmId ?? spec.name, vmConfiguration: Buffer.alloc(0),
    environ: spec.environ ?? [], callTimeoutMs: spec.callTimeoutMs, memoryLimitBytes: spec.memoryLimitBytes,
    log: spec.log, services: spec.services,
  }, spec.module);
  const key = `wasm:${spec.name}`;
  const failOpen = spec.failStrategy === 'FAIL_OPEN';
  const streamOf = (ctx: PluginContext): HttpStream | undefined => ctx.shared.get(key) as HttpStream | undefined;

  /** Fail open: log, forget the stream, go on. Fail closed: the error fails the request (500). */
  const failed = (ctx: PluginContext, err: unknown): undefined => {
    ctx.shared.delete(key);
    if (!failOpen) throw err;
    ctx.log.warn({ plugin: spec.name, err: (err as Error).message }, `wasm plugin ${spec.name} failed; the request goes on without it (FAIL_OPEN)`);
    return undefined;
  };

  /** One request body chunk through the plugin; a fault fails the request with 500 (or passes the chunk, FAIL_OPEN). */
  const requestBodyStep = (ctx: PluginContext, stream: HttpStream, chunk: Buffer, eof: boolean): Buffer | Promise<Buffer> => {
    const onFault = (err: unknown): Buffer => {
      if (err instanceof RequestBodyRejected) {
        err.plugin ??= spec.name;
        throw err;
      }
      ctx.shared.delete(key);
      if (failOpen) {
        ctx.log.warn({ plugin: spec.name, err: (err as Error).message }, `wasm plugin ${spec.name} failed; the request body goes on without it (FAIL_OPEN)`);
        return chunk;
      }
      ctx.log.error({ plugin: spec.name, err: (err as Error).message }, `wasm plugin ${spec.name} failed on the request body; answering 500`);
      const failed = new RequestBodyRejected(500, { 'content-type': 'application/json' }, Buffer.from('{"error_msg":"Internal Server Error"}\n'), (err as Error).message);
      failed.plugin = spec.name;
      throw failed;
    };
    if (ctx.shared.get(key) !== stream) return chunk;
    try {
      const r = stream.requestBody(chunk, eof, pluginNodeLimits().maxBufferedBodySize);
      return r instanceof Promise ? r.catch(onFault) : r;
    } catch (err) {
      return onFault(err);
    }
  };

  /** on_response_body failed: FAIL_OPEN passes the chunk, FAIL_CLOSE fails the response (502, or the connection cut). */
  const failBody = (ctx: PluginContext, chunk: Buffer, err: unknown): Buffer => {
    if (err instanceof ResponseFailure) throw err;
    ctx.shared.delete(key);
    if (failOpen) return chunk;
    throw new ResponseFailure(`wasm plugin ${spec.name} failed in body_filter: ${(err as Error).message}`, 'GH_ERR_PLUGIN_FAILED');
  };

  /** on_response_headers failed: FAIL_OPEN lets the response by, FAIL_CLOSE replaces it with a 500. */
  const failResponse = (ctx: PluginContext, stream: HttpStream, err: unknown): void => {
    if (failOpen) {
      ctx.shared.delete(key);
      ctx.log.warn({ plugin: spec.name, err: (err as Error).message }, `wasm plugin ${spec.name} failed; the response goes on without it (FAIL_OPEN)`);
      return;
    }
    ctx.log.error({ plugin: spec.name, err: (err as Error).message }, `wasm plugin ${spec.name} failed in header_filter; answering 500`);
    stream.replaceResponse(500, { 'content-type': 'text/plain' }, Buffer.from('Internal Server Error\n'));
  };

  return {
    name: spec.name,
    version: spec.version,
    stage: spec.stage,
    priority: spec.priority,
    // any JSON object: the module validates its own configuration in on_configure
    schema: { type: 'object', description: spec.description ?? `wasm plugin ${spec.name}` },
    runtime,
    prepare(conf) {
      const { _meta: _m, ...rest } = conf;
      void _m;
      return { rules: compileRules(rest) };
    },
    [spec.requestPhase ?? 'rewrite'](prepared: Prepared, ctx: PluginContext): PhaseResult | undefined | Promise<PhaseResult | undefined> {
      const rules = prepared.rules;
      // without _rules_ there is nothing to choose: no per-request facts to gather
      const configuration = rules.rules.length === 0 ? rules.global : selectConfiguration(rules, factsOf(ctx, spec.services.clusterName?.(ctx)));
      if (configuration === undefined) return undefined;
      let result: PhaseResult | undefined | Promise<PhaseResult | undefined>;
      try {
        const vm = runtime.acquire();
        const root = vm.root(configuration);
        if (!root.configured) throw new WasmFault(spec.name, 'proxy_on_configure', 'host', 'the plugin refused its configuration (on_configure returned false)');
        const stream = new HttpStream(vm, root, ctx);
        ctx.shared.set(key, stream);
        const withBody = hasRequestBody(ctx);
        result = stream.requestHeaders(!withBody);
        if (withBody && vm.cb.requestBody !== undefined) {
          const filterBody = (): void => ctx.request.filterBody?.((chunk, eof) => requestBodyStep(ctx, stream, chunk, eof));
          if (result instanceof Promise) result = result.then((r) => { if (r === undefined) filterBody(); return r; });
          else if (result === undefined) filterBody();
        }
      } catch (err) {
        return failed(ctx, err);
      }
      if (result instanceof Promise) return result.catch((err: unknown) => failed(ctx, err));
      return result;
    },
    header_filter(_prepared, ctx): void | Promise<void> {
      const stream = streamOf(ctx);
      if (stream === undefined) return undefined;
      try {
        const r = stream.responseHeaders(responseHasBody(ctx));
        if (r instanceof Promise) return r.catch((err: unknown) => failResponse(ctx, stream, err));
      } catch (err) {
        failResponse(ctx, stream, err);
      }
      return undefined;
    },
    filtersBody: () => true,
    body_filter(_prepared, ctx, chunk, eof): Buffer | undefined | Promise<Buffer> {
      const stream = streamOf(ctx);
      if (stream === undefined) return undefined;
      try {
        const r = stream.responseBody(chunk, eof, pluginNodeLimits().maxBufferedBodySize);
        return r instanceof Promise ? r.catch((err: unknown) => failBody(ctx, chunk, err)) : r;
      } catch (err) {
        return failBody(ctx, chunk, err);
      }
    },
    log(_prepared, ctx): void {
      streamOf(ctx)?.finish();
    },
    destroy(): void {
      runtime.dispose();
    },
  };
}
