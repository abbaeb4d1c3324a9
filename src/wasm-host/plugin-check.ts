import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { ConsumerRef, PhaseResult, PluginContext, PluginRequest } from '../contracts/plugin.js';
import { ResponseState } from '../plugin-runtime/plugin-run.js';
import { RequestBodyRejected } from '../plugin-runtime/request-body-rejected.js';
import type { CallResponse } from './abi/host.js';
import { localMetrics, localQueues, sharedDataOf } from './local-services.js';
import { checkModule, compileModule, prepareModule, type ModuleLimits, type ModuleReport } from './module-check.js';
import { wasmPlugin } from './wasm-plugin.js';
import type { VmServices } from './services.js';

// `gatehouse plugin check FILE.wasm`: the "load it locally first" check. The module is
// loaded exactly as a worker loads it (same preparation, same VM, same adapter) and one
// sample request runs through it against a sample upstream answer; the report says what
// the plugin did to each.

export interface SampleRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface CheckOptions extends ModuleLimits {
  rootId: string;
  configuration: Record<string, unknown>;
  request: SampleRequest;
}

export interface CheckReport {
  module?: ModuleReport;
  /** Why the gateway would refuse the plugin (load, start or configure). */
  refused?: string;
  /** A fault while the sample request ran. */
  fault?: string;
  request?: { headers: Record<string, string | null>; path?: string; method?: string; authority?: string; body?: string };
  localResponse?: { status: number; headers: Record<string, string>; body: string };
  response?: { status: number; headers: Record<string, string | null>; body: string };
  httpCalls: { cluster: string; headers: string[] }[];
  logs: { level: string; msg: string }[];
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'critical' };

function diff(before: Record<string, string>, after: Record<string, string>): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(after)) if (before[k] !== v) out[k] = v;
  for (const k of Object.keys(before)) if (!(k in after)) out[k] = null;
  return out;
}

class CheckRequest implements PluginRequest {
  readonly headers: Record<string, string>;
  upstreamUri: string;
  upstreamHost: string | undefined;
  upstreamMethod: string | undefined;
  filters: ((chunk: Buffer, eof: boolean) => Buffer | Promise<Buffer>)[] = [];
  constructor(readonly sample: SampleRequest) {
    this.headers = Object.fromEntries(Object.entries(sample.headers).map(([k, v]) => [k.toLowerCase(), v]));
    this.upstreamUri = sample.path;
  }
  get method(): string { return this.sample.method; }
  get uri(): string { return this.sample.path.split('?')[0]!; }
  get host(): string { return this.headers.host ?? 'localhost'; }
  get remoteAddr(): string { return '127.0.0.1'; }
  header(name: string): string | undefined { return this.headers[name.toLowerCase()]; }
  setHeader(name: string, value: string | undefined): void {
    if (value === undefined) delete this.headers[name.toLowerCase()];
    else this.headers[name.toLowerCase()] = value;
  }
  arg(name: string): string | undefined { return new URLSearchParams(this.sample.path.split('?')[1] ?? '').get(name) ?? undefined; }
  allHeaders(): Record<string, string> { return { ...this.headers }; }
  body(): Promise<Buffer> { return Promise.resolve(Buffer.from(this.sample.body)); }
  setBody(): void {}
  filterBody(f: (chunk: Buffer, eof: boolean) => Buffer | Promise<Buffer>): void { this.filters.push(f); }
}

/** Loads `bytes` as the gateway would and runs the sample request through it. */
export async function checkPlugin(bytes: Uint8Array, opts: CheckOptions): Promise<CheckReport> {
  const report: CheckReport = { httpCalls: [], logs: [] };
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        try {
          const o = JSON.parse(line) as { level: number; msg: string };
          report.logs.push({ level: LEVEL_NAMES[o.level] ?? String(o.level), msg: o.msg });
        } catch { /* not a log line */ }
      }
      done();
    },
  });
  const log = pino({ level: 'trace' }, sink);
  let prepared: Uint8Array;
  try {
    report.module = await checkModule(bytes, { ...opts, configuration: Buffer.from(JSON.stringify(opts.configuration)) });
    prepared = prepareModule(bytes, opts.memoryLimitBytes);
  } catch (err) {
    report.refused = (err as Error).message;
    return report;
  }
  const services: VmServices = {
    // the sample has no upstreams: every call is answered 200 "ok" and reported
    httpCall: (req) => {
      report.httpCalls.push({ cluster: req.cluster, headers: [...req.headers] });
      return Promise.resolve<CallResponse>({ headers: [':status', '200'], body: Buffer.from('ok'), trailers: [], status: 200 });
    },
    sharedData: () => sharedDataOf('\0plugin-check'),
    queues: localQueues,
    metrics: localMetrics,
  };
  const plugin = wasmPlugin({
    name: opts.rootId, version: 'check', stage: 'default', priority: 0, module: await compileModule(prepared),
    rootId: opts.rootId, failStrategy: 'FAIL_CLOSE', callTimeoutMs: opts.callTimeoutMs, memoryLimitBytes: opts.memoryLimitBytes,
    services, log,
  });
  const req = new CheckRequest(opts.request);
  const before = { ...req.headers };
  const shared = new Map<string, unknown>();
  let response = new ResponseState();
  const ctx: PluginContext = {
    request: req, get response() { return response; }, routeId: 'check', serviceId: undefined, consumer: undefined as ConsumerRef | undefined,
    shared, log, startedAt: performance.now(), signal: new AbortController().signal,
    setResponseHeader: () => undefined, attachConsumer: () => undefined, setVar: () => undefined,
    var: (name) => ({ scheme: 'http', server_protocol: 'HTTP/1.1', remote_addr: '127.0.0.1', remote_port: 40000, route_name: 'check' } as Record<string, unknown>)[name],
  };
  const prep = plugin.prepare!(opts.configuration, { metadata: undefined, consumers: [] });
  try {
    const r = await (plugin.rewrite as (p: unknown, c: PluginContext) => PhaseResult | undefined | Promise<PhaseResult | undefined>)(prep, ctx);
    report.request = { headers: diff(before, req.headers) };
    if (req.upstreamUri !== opts.request.path) report.request.path = req.upstreamUri;
    if (req.upstreamMethod !== undefined) report.request.method = req.upstreamMethod;
    if (req.upstreamHost !== undefined) report.request.authority = req.upstreamHost;
    if (r !== undefined) {
      report.localResponse = { status: r.status, headers: r.headers ?? {}, body: Buffer.isBuffer(r.body) ? r.body.toString() : String(r.body ?? '') };
    } else {
      let body = Buffer.from(opts.request.body);
      if (req.filters.length > 0) {
        let out = Buffer.alloc(0);
        for (const f of req.filters) out = Buffer.concat([await f(body, false), await f(Buffer.alloc(0), true)]);
        body = out;
      }
      if (opts.request.body !== '' || req.filters.length > 0) report.request.body = body.toString();
    }
    const upstreamHeaders = { 'content-type': 'text/plain', 'content-length': '20', server: 'sample-upstream' };
    const res = ResponseState.fromFlat(r?.status ?? 200, r !== undefined ? Object.entries(r.headers ?? {}).flat() : Object.entries(upstreamHeaders).flat());
    response = res;
    const headersBefore = res.allHeaders();
    await plugin.header_filter!(prep, ctx);
    const bodyIn = r !== undefined ? (Buffer.isBuffer(r.body) ? r.body : Buffer.from(String(r.body ?? ''))) : Buffer.from('hello from upstream\n');
    const chunk = await plugin.body_filter!(prep, ctx, bodyIn, false);
    const tail = await plugin.body_filter!(prep, ctx, Buffer.alloc(0), true);
    report.response = {
      status: res.status, headers: diff(headersBefore, res.allHeaders()),
      body: Buffer.concat([Buffer.from(chunk ?? bodyIn), Buffer.from(tail ?? '')]).toString(),
    };
    await plugin.log!(prep, ctx);
  } catch (err) {
    report.fault = err instanceof RequestBodyRejected ? `answered ${err.status} from the request body: ${err.message}` : (err as Error).message;
  } finally {
    plugin.destroy?.();
  }
  return report;
}
