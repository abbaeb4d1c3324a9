import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { MapType, Status, StreamType } from './abi/constants.js';
import type { StreamHost } from './abi/host.js';
import { RequestBodyRejected } from '../plugin-runtime/request-body-rejected.js';
import { ResponseFailure } from '../plugin-runtime/response-failure.js';
import { streamProperty, type StreamFacts } from './properties.js';
import type { RootContext } from './root-context.js';
import type { VmHandle } from './vm-handle.js';

const EMPTY: Buffer = Buffer.alloc(0);

type Phase = 'request_headers' | 'request_body' | 'forwarded' | 'response_headers' | 'response_body' | 'log' | 'deleted';

interface LocalResponse {
  status: number;
  details: string;
  body: Buffer;
  headers: readonly string[];
}

interface Waiter {
  type: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * One request through one wasm plugin: the HTTP context the guest sees. Header maps read
 * and write the gateway's request and response (pseudo-headers included); bodies are the
 * chunks the plugin holds; pause, resume and local responses are recorded while the
 * guest runs and acted on after its call returns (resolving a promise never re-enters
 * the guest).
 */
export class HttpStream implements StreamHost, StreamFacts {
  readonly kind = 'stream' as const;
  readonly id: number;
  slot = -1;
  private phase: Phase = 'request_headers';
  private local: LocalResponse | undefined;
  private closed = false;
  private waiter: Waiter | undefined;
  /** continue_stream came during the callback that then returned Pause. */
  private resumedDuringCall = -1;
  private body: Buffer = EMPTY;
  private replacement: Buffer | undefined;
  private pendingDone = false;
  private props: Map<string, Buffer> | undefined;

  constructor(readonly vm: VmHandle, readonly root: RootContext, readonly ctx: PluginContext) {
    this.id = vm.allocateId();
    vm.register(this);
    vm.invoke('proxy_on_context_create', vm.cb.contextCreate, this, this.id, root.id);
  }

  // ---- the gateway's side -------------------------------------------------------------------

  /** on_request_headers: undefined to go on, a PhaseResult for a local response, or a promise while paused. */
  requestHeaders(endOfStream: boolean): PhaseResult | undefined | Promise<PhaseResult | undefined> {
    const cb = this.vm.cb.requestHeaders;
    if (cb === undefined) return this.afterRequestHeaders();
    const req = this.ctx.request;
    // the pseudo-headers, and the rest without host (:authority stands for it)
    const n = req.headerCount !== undefined ? 4 + req.headerCount() - (req.header('host') !== undefined ? 1 : 0)
      : this.headerPairs(MapType.REQUEST_HEADERS)!.length >> 1;
    this.resumedDuringCall = -1;
    const action = this.vm.invoke('proxy_on_request_headers', cb, this, this.id, n, endOfStream ? 1 : 0);
    if (this.local !== undefined || this.closed || action === 0 || this.resumedDuringCall === StreamType.REQUEST) {
      return this.afterRequestHeaders();
    }
    return this.wait(StreamType.REQUEST).then(() => this.afterRequestHeaders());
  }

  private afterRequestHeaders(): PhaseResult | undefined {
    if (this.closed) return { status: 502, body: 'the request was closed by a wasm plugin\n' };
    if (this.local !== undefined) return this.localResult();
    this.phase = 'forwarded';
    return undefined;
  }

  /**
   * on_request_body for one chunk of the body streaming upstream (eof: the final call,
   * maybe empty). Pause holds the chunks (body_size is cumulative, bounded by
   * node.max_buffered_body_size: 413 past it); Continue releases them as the plugin left
   * them. A local response (or a paused end the plugin resolves with one) answers the
   * client instead of the upstream (RequestBodyRejected).
   */
  requestBody(chunk: Buffer, eof: boolean, limit: number): Buffer | Promise<Buffer> {
    const cb = this.vm.cb.requestBody;
    if (cb === undefined || this.phase === 'deleted') return chunk;
    this.phase = 'request_body';
    this.body = this.body.length === 0 ? chunk : Buffer.concat([this.body, chunk]);
    if (this.body.length > limit) {
      this.body = EMPTY; // the answer's own body goes through on_response_body next: it must not start from this one
      throw new RequestBodyRejected(413, { 'content-type': 'text/plain' }, Buffer.from('Request Entity Too Large\n'),
        `wasm plugin ${this.vm.opts.pluginName} held more than ${limit} bytes of request body`);
    }
    this.resumedDuringCall = -1;
    const action = this.vm.invoke('proxy_on_request_body', cb, this, this.id, this.body.length, eof ? 1 : 0);
    const settled = (): Buffer => {
      if (this.local !== undefined) {
        const r = this.localResult();
        this.body = EMPTY;
        throw new RequestBodyRejected(r.status, r.headers ?? {}, r.body as Buffer, `wasm plugin ${this.vm.opts.pluginName} answered from the request body`);
      }
      if (this.closed) throw new Error('the request was closed by a wasm plugin');
      if (eof) this.phase = 'forwarded';
      return this.release();
    };
    if (this.local !== undefined || this.closed || action === 0 || this.resumedDuringCall === StreamType.REQUEST) return settled();
    if (!eof) return EMPTY;
    return this.wait(StreamType.REQUEST).then(settled);
  }

  /** on_response_headers; a local response sent here replaces the upstream's. */
  responseHeaders(endOfStream: boolean): void | Promise<void> {
    if (this.local !== undefined) return this.applyLocalToResponse();
    this.phase = 'response_headers';
    const cb = this.vm.cb.responseHeaders;
    if (cb === undefined) return undefined;
    const flat = this.ctx.response.flatHeaders?.();
    const n = flat !== undefined ? 1 + (flat.length >> 1) : this.headerPairs(MapType.RESPONSE_HEADERS)!.length >> 1;
    this.resumedDuringCall = -1;
    const action = this.vm.invoke('proxy_on_response_headers', cb, this, this.id, n, endOfStream ? 1 : 0);
    if (this.local !== undefined) return this.applyLocalToResponse();
    if (this.closed) throw new Error('the response was closed by a wasm plugin');
    if (action === 0 || this.resumedDuringCall === StreamType.RESPONSE) return undefined;
    return this.wait(StreamType.RESPONSE).then(() => {
      if (this.local !== undefined) this.applyLocalToResponse();
      if (this.closed) throw new Error('the response was closed by a wasm plugin');
    });
  }

  /**
   * on_response_body for one chunk (eof: the final call, maybe empty). While the plugin
   * answers Pause its chunks accumulate and the next call sees them all (body_size is
   * cumulative); Continue releases what it holds, as the plugin left it.
   */
  responseBody(chunk: Buffer, eof: boolean, limit: number): Buffer | Promise<Buffer> {
    if (this.replacement !== undefined) {
      if (!eof) return EMPTY;
      const out = this.replacement;
      this.replacement = EMPTY;
      return out;
    }
    const cb = this.vm.cb.responseBody;
    if (cb === undefined) return chunk;
    this.phase = 'response_body';
    this.body = this.body.length === 0 ? chunk : Buffer.concat([this.body, chunk]);
    if (this.body.length > limit) throw new ResponseFailure(`wasm plugin ${this.vm.opts.pluginName} held more than ${limit} bytes of response body`);
    this.resumedDuringCall = -1;
    const action = this.vm.invoke('proxy_on_response_body', cb, this, this.id, this.body.length, eof ? 1 : 0);
    if (this.closed) throw new Error('the response was closed by a wasm plugin');
    if (action === 0 || this.resumedDuringCall === StreamType.RESPONSE) return this.release();
    if (!eof) return EMPTY;
    // Paused at the end: the plugin must resume (after an http_call, say) for the body to go out.
    return this.wait(StreamType.RESPONSE).then(() => this.release());
  }

  private release(): Buffer {
    const out = this.body;
    this.body = EMPTY;
    return out;
  }

  /** on_done, on_log, on_delete (on_log and on_delete wait for proxy_done when on_done says "not yet"). */
  finish(): void {
    if (this.phase === 'deleted' || this.vm.broken !== undefined) return this.drop();
    this.phase = 'log';
    const cb = this.vm.cb;
    try {
      if (cb.done !== undefined && this.vm.invoke('proxy_on_done', cb.done, this, this.id) === 0) {
        this.pendingDone = true;
        // a plugin that never calls proxy_done still gets its log and delete, later
        setTimeout(() => { if (this.pendingDone) this.logAndDelete(); }, 5000).unref();
        return;
      }
      this.logAndDelete();
    } catch {
      this.drop();
    }
  }

  private logAndDelete(): void {
    this.pendingDone = false;
    const cb = this.vm.cb;
    try {
      if (this.vm.broken === undefined && cb.log !== undefined) this.vm.invoke('proxy_on_log', cb.log, this, this.id);
      if (this.vm.broken === undefined && cb.delete !== undefined) this.vm.invoke('proxy_on_delete', cb.delete, this, this.id);
    } catch {
      // logged by the VM
    }
    this.drop();
  }

  private drop(): void {
    this.phase = 'deleted';
    this.vm.unregister(this);
    this.waiter?.reject(new Error('the request ended'));
    this.waiter = undefined;
  }

  /** The VM broke: a paused request fails with the fault. */
  abort(err: Error): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
    this.phase = 'deleted';
  }

  private wait(type: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiter = { type, resolve, reject };
      this.ctx.signal.addEventListener('abort', () => { if (this.waiter?.resolve === resolve) this.abort(new Error('the request was aborted')); }, { once: true });
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve();
  }

  private localResult(): PhaseResult {
    const l = this.local!;
    const headers: Record<string, string> = {};
    for (let i = 0; i < l.headers.length; i += 2) {
      const name = l.headers[i]!.toLowerCase();
      headers[name] = headers[name] === undefined ? l.headers[i + 1]! : `${headers[name]}, ${l.headers[i + 1]!}`;
    }
    return { status: l.status, body: l.body, headers };
  }

  private applyLocalToResponse(): void {
    const { status, headers, body } = this.localResult();
    this.local = undefined;
    this.replaceResponse(status, headers ?? {}, body as Buffer);
  }

  /**
   * The response becomes this one (its head is not sent yet): status and headers now, the
   * body in place of the upstream's, whatever the VM does next (a plugin's local response,
   * or the 500 of a plugin that failed closed in on_response_headers).
   */
  replaceResponse(status: number, headers: Record<string, string>, body: Buffer): void {
    const res = this.ctx.response;
    for (const name of Object.keys(res.allHeaders?.() ?? {})) res.setHeader(name, undefined);
    res.status = status;
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    this.replacement = body;
  }

  // ---- the guest's side (StreamHost) -------------------------------------------------------

  headerPairs(map: number): string[] | undefined {
    if (map === MapType.REQUEST_HEADERS) {
      const req = this.ctx.request;
      const out = [':authority', req.upstreamHost ?? req.header('host') ?? req.host, ':path', req.upstreamUri,
        ':method', req.upstreamMethod ?? req.method, ':scheme', String(this.ctx.var('scheme') ?? 'http')];
      for (const [k, v] of Object.entries(req.allHeaders?.() ?? {})) if (k !== 'host') out.push(k, v);
      return out;
    }
    if (map === MapType.RESPONSE_HEADERS) {
      if (this.phase !== 'response_headers' && this.phase !== 'response_body' && this.phase !== 'log') return undefined;
      const res = this.ctx.response;
      const out = [':status', String(res.status)];
      const flat = res.flatHeaders?.();
      if (flat !== undefined) {
        for (let i = 0; i < flat.length; i += 2) out.push(flat[i]!.toLowerCase(), flat[i + 1]!);
      } else {
        for (const [k, v] of Object.entries(res.allHeaders?.() ?? {})) out.push(k, v);
      }
      return out;
    }
    // HTTP/1.1 carries no trailers the plugin could see
    if (map === MapType.REQUEST_TRAILERS || map === MapType.RESPONSE_TRAILERS) return [];
    return undefined;
  }

  headerValue(map: number, name: string): string | null | undefined {
    if (map === MapType.REQUEST_HEADERS) {
      const req = this.ctx.request;
      switch (name) {
        case ':authority': return req.upstreamHost ?? req.header('host') ?? req.host;
        case ':path': return req.upstreamUri;
        case ':method': return req.upstreamMethod ?? req.method;
        case ':scheme': return String(this.ctx.var('scheme') ?? 'http');
        default: return req.header(name) ?? null;
      }
    }
    if (map === MapType.RESPONSE_HEADERS) {
      if (this.phase !== 'response_headers' && this.phase !== 'response_body' && this.phase !== 'log') return undefined;
      if (name === ':status') return String(this.ctx.response.status);
      return this.ctx.response.header(name) ?? null;
    }
    if (map === MapType.REQUEST_TRAILERS || map === MapType.RESPONSE_TRAILERS) return null;
    return undefined;
  }

  editHeader(map: number, name: string, value: string | undefined, add: boolean): number {
    try {
      if (map === MapType.REQUEST_HEADERS) {
        if (this.phase !== 'request_headers') return Status.BAD_ARGUMENT;
        return this.editRequestHeader(name, value, add);
      }
      if (map === MapType.RESPONSE_HEADERS) {
        if (this.phase !== 'response_headers') return Status.BAD_ARGUMENT;
        const res = this.ctx.response;
        if (name === ':status') {
          if (value === undefined) return Status.BAD_ARGUMENT;
          res.status = Number(value);
        } else if (value !== undefined && add) {
          res.addHeader(name, value);
        } else {
          res.setHeader(name, value);
        }
        return Status.OK;
      }
    } catch {
      // a value the HTTP layer cannot carry (CR, LF, NUL), or a bad status
      return Status.BAD_ARGUMENT;
    }
    return Status.BAD_ARGUMENT;
  }

  private editRequestHeader(name: string, value: string | undefined, add: boolean): number {
    const req = this.ctx.request;
    switch (name) {
      case ':path':
        if (value === undefined || value === '') return Status.BAD_ARGUMENT;
        req.upstreamUri = value;
        return Status.OK;
      case ':method':
        if (value === undefined || value === '') return Status.BAD_ARGUMENT;
        req.upstreamMethod = value;
        return Status.OK;
      case ':authority':
      case 'host':
        if (value === undefined || value === '') return Status.BAD_ARGUMENT;
        req.upstreamHost = value;
        return Status.OK;
      case ':scheme':
        return Status.OK;
      default: {
        const prev = add && value !== undefined ? req.header(name) : undefined;
        req.setHeader(name, prev === undefined ? value : `${prev}, ${value!}`);
        return Status.OK;
      }
    }
  }

  replaceHeaders(map: number, flat: readonly string[]): number {
    const current = this.headerPairs(map);
    if (current === undefined || (map !== MapType.REQUEST_HEADERS && map !== MapType.RESPONSE_HEADERS)) return Status.BAD_ARGUMENT;
    if (map === MapType.REQUEST_HEADERS ? this.phase !== 'request_headers' : this.phase !== 'response_headers') return Status.BAD_ARGUMENT;
    for (let i = 0; i < current.length; i += 2) {
      if (current[i]!.charCodeAt(0) !== 58 /* : */) this.editHeader(map, current[i]!, undefined, false);
    }
    for (let i = 0; i < flat.length; i += 2) {
      const st = this.editHeader(map, flat[i]!.toLowerCase(), flat[i + 1]!, true);
      if (st !== Status.OK) return st;
    }
    return Status.OK;
  }

  buffer(type: number): Buffer | undefined {
    if ((type === 1 && this.phase === 'response_body') || (type === 0 && this.phase === 'request_body')) return this.body;
    return undefined;
  }

  setBuffer(type: number, start: number, size: number, data: Buffer): number {
    if (this.buffer(type) === undefined) return Status.NOT_FOUND;
    const b = this.body;
    if (start >= b.length) this.body = Buffer.concat([b, data]);
    else this.body = Buffer.concat([b.subarray(0, start), data, b.subarray(Math.min(b.length, start + size))]);
    return Status.OK;
  }

  continueStream(type: number): number {
    if (type !== StreamType.REQUEST && type !== StreamType.RESPONSE) return Status.UNIMPLEMENTED;
    if (this.waiter?.type === type) this.wake();
    else this.resumedDuringCall = type;
    return Status.OK;
  }

  closeStream(type: number): number {
    if (type !== StreamType.REQUEST && type !== StreamType.RESPONSE) return Status.UNIMPLEMENTED;
    this.closed = true;
    this.wake();
    return Status.OK;
  }

  sendLocalResponse(status: number, details: string, body: Buffer, headers: readonly string[], _grpcStatus: number): number {
    // once the response's head went to the client it cannot be replaced
    if (this.phase !== 'request_headers' && this.phase !== 'request_body' && this.phase !== 'forwarded' && this.phase !== 'response_headers') return Status.BAD_ARGUMENT;
    if (status < 100 || status > 999) return Status.BAD_ARGUMENT;
    this.local = { status, details, body, headers };
    this.wake();
    return Status.OK;
  }

  property(path: readonly string[]): Uint8Array | undefined {
    const own = this.props?.get(path.join('\0'));
    if (own !== undefined) return own;
    return streamProperty(this, path) ?? this.root.property(path);
  }

  setProperty(path: readonly string[], value: Buffer): number {
    (this.props ??= new Map()).set(path.join('\0'), value);
    // Higress's wasm-go asks for a fresh VM (after N requests or M bytes of memory) this way
    if (path.length === 1 && path[0] === 'wasm_need_rebuild' && value.toString() === 'true') this.vm.retire('the plugin asked for it (wasm_need_rebuild)');
    return Status.OK;
  }

  done(): number {
    if (!this.pendingDone) return Status.NOT_FOUND;
    queueMicrotask(() => this.logAndDelete());
    return Status.OK;
  }

  /** For properties: where the request is in its life. */
  get responseStarted(): boolean {
    return this.phase === 'response_headers' || this.phase === 'response_body' || this.phase === 'log';
  }
}
