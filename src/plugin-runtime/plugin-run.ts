import type { ConsumerRef, PluginContext, PluginRequest, PluginResponse } from '../contracts/plugin.js';
import type { Logger } from 'pino';
import type { Exchange } from '../data-plane/exchange.js';
import type { Chain, Instance } from './chain.js';
import { finishedVar } from '../observability/request-facts.js';

/** Response status and headers while header_filter runs: lower-case name → [original name, value]. */
export class ResponseState implements PluginResponse {
  status = 200;
  readonly headers = new Map<string, [string, string | string[]]>();

  header(name: string): string | undefined {
    const v = this.headers.get(name.toLowerCase())?.[1];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  setHeader(name: string, value: string | undefined): void {
    const lower = name.toLowerCase();
    if (value === undefined) this.headers.delete(lower);
    else this.headers.set(lower, [name, value]);
  }

  addHeader(name: string, value: string): void {
    const lower = name.toLowerCase();
    const prev = this.headers.get(lower);
    if (prev === undefined) this.headers.set(lower, [name, value]);
    else this.headers.set(lower, [prev[0], [...(Array.isArray(prev[1]) ? prev[1] : [prev[1]]), value]]);
  }

  allHeaders(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [lower, [, value]] of this.headers) out[lower] = Array.isArray(value) ? value.join(', ') : value;
    return out;
  }

  /** Flat [name, value, …] for writeHead. */
  flatten(): string[] {
    const out: string[] = [];
    for (const [name, value] of this.headers.values()) {
      if (Array.isArray(value)) for (const v of value) out.push(name, v);
      else out.push(name, value);
    }
    return out;
  }

  static fromFlat(status: number, flat: readonly string[]): ResponseState {
    const r = new ResponseState();
    r.status = status;
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!;
      const lower = name.toLowerCase();
      const prev = r.headers.get(lower);
      if (prev === undefined) r.headers.set(lower, [name, flat[i + 1]!]);
      else r.headers.set(lower, [prev[0], [...(Array.isArray(prev[1]) ? prev[1] : [prev[1]]), flat[i + 1]!]]);
    }
    return r;
  }
}

class RequestView implements PluginRequest {
  constructor(private readonly ex: Exchange) {}
  get method(): string { return this.ex.req.method ?? 'GET'; }
  get uri(): string { return this.ex.vars.facts.path; }
  get host(): string { return this.ex.vars.facts.host; }
  get remoteAddr(): string { return String(this.ex.vars.get('remote_addr') ?? ''); }
  header(name: string): string | undefined {
    const lower = name.toLowerCase();
    const edits = this.ex.requestHeaderEdits;
    if (edits !== undefined && edits.has(lower)) return edits.get(lower);
    const v = this.ex.req.headers[lower];
    return Array.isArray(v) ? v.join(', ') : v;
  }
  setHeader(name: string, value: string | undefined): void {
    const lower = name.toLowerCase();
    if (lower === 'host') this.ex.upstreamHost = value;
    else (this.ex.requestHeaderEdits ??= new Map()).set(lower, value);
  }
  arg(name: string): string | undefined { return this.ex.vars.arg(name); }
  allHeaders(): Record<string, string> {
    const out: Record<string, string> = {};
    const h = this.ex.req.headers;
    for (const name in h) {
      const v = h[name];
      if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : v;
    }
    for (const [name, v] of this.ex.requestHeaderEdits ?? []) {
      if (v === undefined) delete out[name];
      else out[name] = v;
    }
    return out;
  }
  get upstreamUri(): string { return this.ex.upstreamUri; }
  set upstreamUri(v: string) { this.ex.upstreamUri = v; }
  get upstreamHost(): string | undefined { return this.ex.upstreamHost; }
  set upstreamHost(v: string | undefined) { this.ex.upstreamHost = v; }
  get upstreamMethod(): string | undefined { return this.ex.upstreamMethod; }
  set upstreamMethod(v: string | undefined) { this.ex.upstreamMethod = v; }
}

/**
 * The per-request state of the plugin runtime, and the `PluginContext` handlers see.
 * `routeChain` becomes the merged route + consumer chain once an auth plugin attaches
 * a consumer.
 */
export class PluginRun implements PluginContext {
  readonly request: PluginRequest;
  response: ResponseState = new ResponseState();
  readonly shared = new Map<string, unknown>();
  consumer: ConsumerRef | undefined;
  /** Set when attachConsumer ran and the merge has not been done yet. */
  consumerPending = false;
  /** `_meta.filter` results, evaluated the first time an instance is about to run, then kept for the request. */
  private filterResults: Map<Instance, boolean> | undefined;
  readonly startedAt: number;
  /**
   * socket.bytesRead / bytesWritten before the response: sizes for loggers are the growth
   * since. Read (~75 ns) only when a log handler will want them; -1 until then.
   */
  readAtStart = -1;
  writtenAtStart = -1;

  constructor(
    readonly ex: Exchange,
    readonly globalChain: Chain,
    public routeChain: Chain,
    readonly log: Logger,
  ) {
    this.request = new RequestView(ex);
    this.startedAt = ex.startedAt;
    if (routeChain.log.length > 0 || globalChain.log.length > 0) this.markSizes();
  }

  /** Records the socket's byte counts now (idempotent); header_filter calls it for log plugins a consumer brought in. */
  markSizes(): void {
    if (this.writtenAtStart >= 0) return;
    const socket = this.ex.req.socket as import('node:net').Socket | null;
    this.readAtStart = socket?.bytesRead ?? 0;
    this.writtenAtStart = socket?.bytesWritten ?? 0;
  }

  var(name: string): unknown {
    if (name === 'status') return this.response.status;
    const v = this.ex.vars.get(name);
    // upstream_addr, bytes_sent, request_time, …: only loggers ask, once the request is done
    return v !== undefined ? v : finishedVar(this, name);
  }

  setVar(name: string, value: unknown): void {
    this.ex.vars.set(name, value);
    if (name === 'remote_addr' && typeof value === 'string') this.ex.vars.facts.remoteAddr = value;
  }

  get routeId(): string | undefined { return this.ex.route?.id; }
  get serviceId(): string | undefined { return this.ex.route?.service?.id; }

  attachConsumer(consumer: ConsumerRef): void {
    this.consumer = consumer;
    this.consumerPending = true;
    this.ex.vars.facts.consumerName = consumer.username;
    this.ex.vars.set('consumer_group_id', consumer.group_id);
  }

  passesFilter(inst: Instance): boolean {
    if (inst.filter === undefined) return true;
    let results = this.filterResults;
    const cached = results?.get(inst);
    if (cached !== undefined) return cached;
    let ok: boolean;
    try {
      ok = inst.filter(this.ex.vars.lookup);
    } catch {
      ok = true; // APISIX fails open on an evaluation error
    }
    (results ??= this.filterResults = new Map()).set(inst, ok);
    return ok;
  }
}
