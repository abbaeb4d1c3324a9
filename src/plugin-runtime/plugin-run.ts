import type { ConsumerRef, PluginContext, PluginRequest, PluginResponse, UpstreamChoice } from '../contracts/plugin.js';
import type { Logger } from 'pino';
import type { ExchangeView } from '../contracts/exchange.js';
import type { Chain, Instance } from './chain.js';
import { GatehouseError } from '../core/errors.js';
import type { TraceRecord } from '../contracts/trace-record.js';
import { RequestTrace } from '../observability/tracing/request-trace.js';

/** Bounds on what one request's plugins may do (from the node config). */
export interface RunLimits {
  /** ms one asynchronous plugin call may take (0: no deadline). */
  readonly pluginTimeoutMs: number;
  /** Largest request body a plugin may read into memory (bytes). */
  readonly maxBufferedBody: number;
}

export const DEFAULT_RUN_LIMITS: RunLimits = Object.freeze({ pluginTimeoutMs: 10_000, maxBufferedBody: 10 * 1024 * 1024 });

/** A plugin call overran its deadline; the request fails with 504, logged with the plugin's name. */
export class PluginDeadlineError extends GatehouseError {
  constructor(readonly plugin: string, readonly ms: number) {
    super('GH_ERR_PLUGIN_TIMEOUT', `plugin ${plugin} did not finish within ${ms} ms`);
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What an upstream request target may hold (undici refuses the rest): visible ASCII and obs-text. */
const URI_CHARS = /^[\u0021-\u00ff]*$/;
/** Names already found to be tokens (plugins set the same few names again and again). */
const tokenNames = new Set<string>();

/**
 * A header a plugin sets, checked where it is set: a token name, a string value (a
 * number is taken as its decimal text) with no NUL, CR or LF. Anything else throws, so
 * the failure belongs to the plugin that set it (its request fails with a 500 in a
 * request phase; in header_filter the header is not set and the error logged), as
 * OpenResty raises on a bad `ngx.header` — never a response the HTTP layer then cannot
 * write. Everything that reaches a response through here is safe to write unchecked.
 */
export function checkedHeaderValue(name: string, value: unknown): string {
  const v = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
  if (v === undefined) throw new Error(`invalid header "${name}": its value must be a string, got ${typeof value}`);
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13) throw new Error(`invalid header "${name}": its value contains a NUL, CR or LF character`);
  }
  if (!tokenNames.has(name)) {
    if (typeof name !== 'string' || !TOKEN.test(name)) throw new Error(`invalid header name ${JSON.stringify(name)}`);
    if (tokenNames.size < 1000) tokenNames.add(name);
  }
  return v;
}

/**
 * Two header names of the same length are equal ignoring ASCII case (no lower-cased
 * copies made). Compared from the end: names of one family share their beginning
 * (X-RateLimit-Limit / X-RateLimit-Reset, access-control-allow-*), so they differ sooner there.
 */
function sameName(a: string, b: string): boolean {
  for (let i = a.length - 1; i >= 0; i--) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 65 && x <= 90) x += 32;
    if (y >= 65 && y <= 90) y += 32;
    if (x !== y) return false;
  }
  return true;
}

/**
 * Response status and headers while header_filter runs. Kept as the flat
 * `[name, value, …]` list the response is written from (no map, no entry objects: a
 * proxied response's headers are taken over as they are, a handful of plugin edits
 * scan a short list, comparing names without lower-casing them. Repeated headers stay
 * separate entries, in their order. Every header set through it is checked as it is set
 * (checkedHeaderValue) and the list it starts from is the upstream's, already parsed, so
 * the HTTP layer writes it without a second check.
 */
export class ResponseState implements PluginResponse {
  private code = 200;
  private readonly flat: string[];

  get status(): number {
    return this.code;
  }

  /** A status the HTTP layer can write (an integer from 100 to 999); anything else throws, to the plugin that set it. */
  set status(v: number) {
    if (!Number.isInteger(v) || v < 100 || v > 999) throw new Error(`invalid response status ${JSON.stringify(v)}`);
    this.code = v;
  }

  constructor(flat: string[] = []) {
    this.flat = flat;
  }

  /** Index of the first entry named `name` (ignoring case) at or after `from`, -1 when none. */
  private find(name: string, from = 0): number {
    const flat = this.flat;
    for (let i = from; i < flat.length; i += 2) {
      const n = flat[i]!;
      if (n.length === name.length && (n === name || sameName(n, name))) return i;
    }
    return -1;
  }

  private removeAt(i: number): void {
    this.flat.splice(i, 2);
  }

  header(name: string): string | undefined {
    let i = this.find(name);
    if (i < 0) return undefined;
    let v = this.flat[i + 1]!;
    while ((i = this.find(name, i + 2)) >= 0) v += ', ' + this.flat[i + 1]!;
    return v;
  }

  /** Replaces every value of `name` (the first entry keeps its place and takes this spelling); undefined removes it. */
  setHeader(name: string, value: string | undefined): void {
    this.setCheckedHeader(name, value === undefined ? undefined : checkedHeaderValue(name, value));
  }

  /** setHeader for a name and value checkedHeaderValue has already passed (not checked twice). */
  setCheckedHeader(name: string, value: string | undefined): void {
    const i = this.find(name);
    if (i < 0) {
      if (value !== undefined) this.flat.push(name, value);
      return;
    }
    let j: number;
    while ((j = this.find(name, i + 2)) >= 0) this.removeAt(j);
    if (value === undefined) {
      this.removeAt(i);
      return;
    }
    this.flat[i] = name;
    this.flat[i + 1] = value;
  }

  /** One more value, after the name's last one. */
  addHeader(name: string, value: string): void {
    value = checkedHeaderValue(name, value);
    let last = -1;
    for (let i = this.find(name); i >= 0; i = this.find(name, i + 2)) last = i;
    if (last < 0) {
      this.setHeader(name, value);
      return;
    }
    this.flat.splice(last + 2, 0, this.flat[last]!, value);
  }

  allHeaders(): Record<string, string> {
    const out: Record<string, string> = {};
    const flat = this.flat;
    for (let i = 0; i < flat.length; i += 2) {
      const lower = flat[i]!.toLowerCase();
      const prev = out[lower];
      out[lower] = prev === undefined ? flat[i + 1]! : `${prev}, ${flat[i + 1]!}`;
    }
    return out;
  }

  flatHeaders(): readonly string[] {
    return this.flat;
  }

  /** Flat [name, value, …] for writeHead: the live list, not a copy (nothing edits it once it is written). */
  flatten(): string[] {
    return this.flat;
  }

  /** Takes `flat` over as it is (the caller hands it on and does not touch it again). */
  static fromFlat(status: number, flat: string[]): ResponseState {
    const r = new ResponseState(flat);
    r.status = status;
    return r;
  }
}

/**
 * The first value of `name` in `query` when the query has no `%` or `+` (then no name or
 * value needs decoding and this equals URLSearchParams' answer): the value, '' for a bare
 * `name`, null when absent. undefined: the query has escapes, ask the full parser.
 */
export function plainQueryArg(query: string, name: string): string | null | undefined {
  if (name === '' || query.includes('%') || query.includes('+')) return undefined;
  let start = 0;
  const n = name.length;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    if (query.startsWith(name, start)) {
      const after = start + n;
      if (after === end) return '';
      if (query.charCodeAt(after) === 61 /* = */) return query.slice(after + 1, end);
    }
    start = end + 1;
  }
  return null;
}

class RequestView implements PluginRequest {
  constructor(private readonly ex: ExchangeView, private readonly limits: RunLimits) {}
  body(): Promise<Buffer> {
    return this.ex.readBody(this.limits.maxBufferedBody);
  }
  filterBody(filter: (chunk: Buffer, eof: boolean) => Buffer | Promise<Buffer>): void {
    this.ex.addRequestBodyFilter(filter);
  }
  setBody(body: Buffer | string): void {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    if (!Buffer.isBuffer(buf)) throw new Error(`a request body must be a Buffer or a string, got ${typeof body}`);
    this.ex.replaceBody(buf);
  }
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
    if (value !== undefined) value = checkedHeaderValue(name, value);
    const lower = name.toLowerCase();
    if (lower === 'host') this.ex.upstreamHost = value;
    else (this.ex.requestHeaderEdits ??= new Map()).set(lower, value);
  }
  arg(name: string): string | undefined {
    // One argument of a plain query (no escapes) is found by a scan; anything else is
    // parsed (and kept) by the request's variables, as URLSearchParams does.
    const q = this.ex.vars.facts.query;
    if (q === '') return undefined;
    const v = plainQueryArg(q, name);
    return v === undefined ? this.ex.vars.arg(name) : v ?? undefined;
  }
  headerCount(): number {
    const h = this.ex.req.headers;
    let n = 0;
    for (const name in h) if (h[name] !== undefined) n++;
    for (const [name, v] of this.ex.requestHeaderEdits ?? []) {
      const had = h[name] !== undefined;
      if (v === undefined && had) n--;
      else if (v !== undefined && !had) n++;
    }
    return n;
  }
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
  // Checked when set, like headers: a value the upstream request could not carry fails
  // the plugin that set it (a 500), not the upstream attempt later (a misleading 502).
  get upstreamUri(): string { return this.ex.upstreamUri; }
  set upstreamUri(v: string) {
    if (typeof v !== 'string' || v.charCodeAt(0) !== 47 /* / */ || !URI_CHARS.test(v)) {
      throw new Error(`invalid upstream uri ${JSON.stringify(v)}: it must start with "/" and have no spaces or control characters`);
    }
    this.ex.upstreamUri = v;
  }
  get upstreamHost(): string | undefined { return this.ex.upstreamHost; }
  set upstreamHost(v: string | undefined) { this.ex.upstreamHost = v === undefined ? undefined : checkedHeaderValue('host', v); }
  get upstreamMethod(): string | undefined { return this.ex.upstreamMethod; }
  set upstreamMethod(v: string | undefined) {
    if (v !== undefined && (typeof v !== 'string' || !TOKEN.test(v))) throw new Error(`invalid upstream method ${JSON.stringify(v)}`);
    this.ex.upstreamMethod = v;
  }
}

/**
 * The per-request state of the plugin runtime, and the `PluginContext` handlers see.
 * `routeChain` becomes the merged route + consumer chain once an auth plugin attaches
 * a consumer.
 */
export class PluginRun implements PluginContext {
  readonly request: PluginRequest;
  // created when first used: most requests get the proxied response's state instead
  private responseState: ResponseState | undefined;
  private sharedMap: Map<string, unknown> | undefined;
  consumer: ConsumerRef | undefined;
  /** Set when attachConsumer ran and the merge has not been done yet. */
  consumerPending = false;
  /**
   * How many handler calls each timed call of this request stands for in the per-plugin
   * cost histogram; 0: this request is not timed (the data plane samples one in N).
   */
  costWeight = 1;
  /** The plugin that answered this request itself (the `plugin_responded` variable); undefined when none did. */
  respondedBy: string | undefined;
  /** `_meta.filter` results per instance: two bits per phase (evaluated, passed). */
  private filterResults: Map<Instance, number> | undefined;
  readonly startedAt: number;

  constructor(
    readonly ex: ExchangeView,
    readonly globalChain: Chain,
    public routeChain: Chain,
    readonly log: Logger,
    readonly limits: RunLimits = DEFAULT_RUN_LIMITS,
  ) {
    this.request = new RequestView(ex, limits);
    this.startedAt = ex.startedAt;
  }

  private controller: AbortController | undefined;

  /** Aborted when the client goes away (or a plugin call overran its deadline): pass it to fetches and timers. */
  get signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal;
  }

  /** Cancels the work in flight for this request; pending plugin calls settle at once. */
  abort(reason: string): void {
    this.aborted = true;
    this.controller?.abort(new GatehouseError('GH_ERR_CLIENT_GONE', reason));
    const waits = this.waits;
    this.waits = undefined;
    if (waits !== undefined) for (const w of waits) w();
  }

  aborted = false;

  /** The request has a body nobody has read (or replaced) yet. */
  bodyUnread(): boolean {
    return this.ex.bufferedBody === undefined && this.ex.req.body !== null;
  }
  /** Rejecters of the plugin calls being waited for, settled by abort(). */
  private waits: Set<() => void> | undefined;

  /**
   * Waits for one plugin call's promise, bounded by the plugin deadline and (when
   * `cancellable`: request phases) by the client going away, whichever comes first.
   * Whatever the plugin's promise does later is ignored.
   */
  settle<T>(p: Promise<T>, plugin: string, cancellable: boolean): Promise<T> {
    const ms = this.limits.pluginTimeoutMs;
    if (ms <= 0 && !cancellable) return p;
    if (cancellable && this.aborted) return Promise.reject(new GatehouseError('GH_ERR_CLIENT_GONE'));
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        reject(new GatehouseError('GH_ERR_CLIENT_GONE'));
      };
      if (cancellable) (this.waits ??= new Set()).add(onAbort);
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.waits?.delete(onAbort);
      };
      if (ms > 0) {
        timer = setTimeout(() => {
          this.waits?.delete(onAbort);
          const err = new PluginDeadlineError(plugin, ms);
          reject(err);
          // The request is failing: whatever else it started (fetches given `signal`) stops too.
          this.controller?.abort(err);
        }, ms);
      }
      p.then((v) => { done(); resolve(v); }, (e: unknown) => { done(); reject(e); });
    });
  }

  get response(): ResponseState {
    return this.responseState ??= new ResponseState();
  }

  private finishers: (() => void)[] | undefined;

  onFinished(fn: () => void): void {
    (this.finishers ??= []).push(fn);
  }

  /** The request is over (its log phase done): what plugins registered with onFinished runs, each failure logged. */
  finish(): void {
    const list = this.finishers;
    if (list === undefined) return;
    this.finishers = undefined;
    for (const fn of list) {
      try {
        fn();
      } catch (err) {
        this.log.error({ err: (err as Error)?.message }, 'a request-finished callback failed');
      }
    }
  }

  set response(r: ResponseState) {
    this.responseState = r;
  }

  /** Per-request scratch space shared by plugins (made on first use). */
  get shared(): Map<string, unknown> {
    return this.sharedMap ??= new Map();
  }

  traceRecord(): TraceRecord {
    return this.ex.trace ??= new RequestTrace(false);
  }

  stopHandlerCalls(): void {
    this.ex.trace?.stopHandlerCalls();
  }

  var(name: string): unknown {
    if (name === 'status') return this.responseState?.status ?? 200;
    const vars = this.ex.vars;
    // the names of the two sets do not overlap: straight to a finished one when it is one
    if (!vars.hasOverrides && this.ex.isFinishedVar(name)) return this.ex.finishedVar(name, this.responseState);
    const v = vars.get(name);
    // upstream_addr, bytes_sent, request_time, …: only loggers ask, once the request is done
    return v !== undefined ? v : this.ex.finishedVar(name, this.responseState);
  }

  setVar(name: string, value: unknown): void {
    this.ex.vars.set(name, value);
    if (name === 'remote_addr' && typeof value === 'string') this.ex.vars.facts.remoteAddr = value;
  }

  get routeId(): string | undefined { return this.ex.route?.id; }
  get serviceId(): string | undefined { return this.ex.route?.service?.id; }

  attachConsumer(consumer: ConsumerRef): void {
    const before = this.consumer;
    this.consumer = consumer;
    this.consumerPending = true;
    this.ex.vars.facts.consumerName = consumer.username;
    // unset reads as undefined anyway: only a group (or replacing a consumer that had one) is recorded
    if (consumer.group_id !== undefined || before?.group_id !== undefined) this.ex.vars.set('consumer_group_id', consumer.group_id);
    // What APISIX's attach_consumer tells the upstream. A header without a value is
    // removed, so a client cannot pass its own X-Credential-Identifier or custom id along.
    const req = this.request;
    req.setHeader('x-consumer-username', consumer.username);
    req.setHeader('x-credential-identifier', consumer.credential_id);
    req.setHeader('x-consumer-custom-id', consumer.labels?.custom_id);
  }

  setUpstream(choice: UpstreamChoice): void {
    this.ex.upstreamChoice = choice;
  }

  retryOnStatus(retry: (status: number) => boolean): void {
    this.ex.statusRetry = retry;
  }

  upstreamHealthy(choice: UpstreamChoice): boolean {
    return this.ex.upstreamHealthy?.(choice) ?? true;
  }

  /** setResponseHeader before the response exists, as flat [name, value, …] (undefined: remove). */
  private pendingResponseHeaders: (string | undefined)[] | undefined;

  setResponseHeader(name: string, value: string | undefined): void {
    if (value !== undefined) value = checkedHeaderValue(name, value);
    if (this.statusKnown) {
      this.response.setHeader(name, value);
      return;
    }
    const pending = this.pendingResponseHeaders ??= [];
    for (let i = 0; i < pending.length; i += 2) {
      if (pending[i] === name) {
        pending[i + 1] = value;
        return;
      }
    }
    pending.push(name, value);
  }

  /** The response's headers are known (header_filter is about to run): headers set ahead of it go on now. */
  applyPendingResponseHeaders(): void {
    const pending = this.pendingResponseHeaders;
    if (pending === undefined) return;
    this.pendingResponseHeaders = undefined;
    const res = this.response;
    for (let i = 0; i < pending.length; i += 2) res.setCheckedHeader(pending[i]!, pending[i + 1]);
  }

  /** Set when header_filter starts: from then on `status` is the response's. */
  statusKnown = false;
  private filterLookup: ((name: string) => unknown) | undefined;

  /**
   * What `_meta.filter` expressions read, as the request stands at the phase the
   * plugin runs in: request headers as earlier plugins left them (a filter on
   * `http_foo_age` sees the `foo-age` proxy-rewrite set), response variables
   * (`status`, `upstream_status`, `sent_http_*`, …) only once there is a response —
   * before that they are nil, so a comparison with them is false.
   */
  private filterVar(name: string): unknown {
    if (name === 'status') return this.statusKnown ? this.response.status : undefined;
    const edits = this.ex.requestHeaderEdits;
    if (edits !== undefined && name.startsWith('http_')) {
      const header = name.slice(5).replace(/_/g, '-');
      if (edits.has(header)) return edits.get(header);
    }
    return this.var(name);
  }

  /**
   * `_meta.filter`, evaluated lazily at each phase the instance runs in (APISIX
   * evaluates it in the phase, against the variables of that moment); the result is
   * kept for the rest of that phase only (body_filter runs per chunk).
   */
  passesFilter(inst: Instance, phase: number): boolean {
    if (inst.filter === undefined) return true;
    let results = this.filterResults;
    const cached = results?.get(inst);
    if (cached !== undefined && (cached & (1 << (2 * phase))) !== 0) return (cached & (2 << (2 * phase))) !== 0;
    let ok: boolean;
    try {
      ok = inst.filter(this.filterLookup ??= (name) => this.filterVar(name));
    } catch {
      ok = true; // APISIX fails open on an evaluation error
    }
    (results ??= this.filterResults = new Map()).set(inst, (cached ?? 0) | (1 << (2 * phase)) | (ok ? 2 << (2 * phase) : 0));
    return ok;
  }
}
