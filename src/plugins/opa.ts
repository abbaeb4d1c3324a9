// opa: asks an Open Policy Agent server for a decision on every request (APISIX's opa).
// It POSTs APISIX's input document to <host>/v1/data/<policy> and honours the result:
// a boolean, or an object with allow, reason, status_code and headers. A refusal answers
// with status_code (403 by default), the reason as body and the headers; on allow the
// `send_headers_upstream` names are copied from the result's headers (a missing one is
// removed, so a client cannot forge it). Unreachable OPA: 403; a reply without a
// decision: 503 (APISIX's codes).
import { deadline } from '../core/deadline.js';
import type { PluginContext, PhaseResult } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { HEADER_NAME_SCHEMA } from './common/headers.js';
import { boundedBody, KEEPALIVE_FIELDS, poolFor, type ConnectionPolicy, type ServicePool } from './common/http-client.js';
import { routeCounter, setLoggedText } from './common/observe.js';

export interface OpaConf extends ConnectionPolicy {
  host: string;
  policy: string;
  timeout: number;
  with_route: boolean;
  with_service: boolean;
  with_consumer: boolean;
  send_headers_upstream?: string[];
}

interface OpaPrepared {
  conf: OpaConf;
  endpoint: string;
  upstreamHeaders: readonly string[];
  pool: ServicePool;
}

/** The most of an OPA reply read; a larger one counts as no decision. */
export const MAX_DECISION_BYTES = 64 * 1024;
/** The most query arguments put in the input document (bounded work per request). */
export const MAX_QUERY_ARGS = 100;

// For access logs: the OPA server's HTTP status (`error` when it gave none) and the
// decision's reason (at most MAX_LOGGED_TEXT characters; JSON when not a string).
registerVariable('opa_status');
registerVariable('opa_reason');

const countError = routeCounter('gatehouse_opa_errors_total', 'opa calls that gave no decision (OPA unreachable, too slow, or no result)');

/** Repeated keys become arrays, a bare key `true` (APISIX's ngx.req.get_uri_args). */
export function queryObject(requestUri: string): Record<string, unknown> {
  const q = requestUri.indexOf('?');
  const out: Record<string, unknown> = {};
  if (q < 0) return out;
  let count = 0;
  for (const part of requestUri.slice(q + 1).split('&', MAX_QUERY_ARGS)) {
    if (part === '' || ++count > MAX_QUERY_ARGS) continue;
    const eq = part.indexOf('=');
    const decode = (s: string): string => { try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; } };
    const key = decode(eq < 0 ? part : part.slice(0, eq));
    const value: unknown = eq < 0 ? true : decode(part.slice(eq + 1));
    const prev = out[key];
    if (prev === undefined) out[key] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[key] = [prev, value];
  }
  return out;
}

function inputDocument(conf: OpaConf, ctx: PluginContext): Record<string, unknown> {
  const requestUri = String(ctx.var('request_uri') ?? ctx.request.uri);
  const input: Record<string, unknown> = {
    type: 'http',
    request: {
      scheme: String(ctx.var('scheme') ?? 'http'),
      path: ctx.request.uri,
      headers: ctx.request.allHeaders?.() ?? {},
      query: queryObject(requestUri),
      host: ctx.request.host,
      method: ctx.request.method,
      port: Number(ctx.var('server_port') ?? 0),
    },
    var: {
      server_addr: ctx.var('server_addr'),
      server_port: String(ctx.var('server_port') ?? ''),
      remote_addr: ctx.var('remote_addr') ?? ctx.request.remoteAddr,
      remote_port: String(ctx.var('remote_port') ?? ''),
      timestamp: Math.floor(Date.now() / 1000),
    },
  };
  if (conf.with_route && ctx.routeId !== undefined) input.route = { id: ctx.routeId };
  if (conf.with_service && ctx.serviceId !== undefined) input.service = { id: ctx.serviceId };
  if (conf.with_consumer && ctx.consumer !== undefined) input.consumer = ctx.consumer;
  return input;
}

interface Decision { allow: boolean; reason?: unknown; status_code?: unknown; headers?: unknown }

/** undefined when the reply holds no decision. */
export function decisionOf(reply: unknown): Decision | undefined {
  if (reply === null || typeof reply !== 'object' || !('result' in reply)) return undefined;
  const result = (reply as { result: unknown }).result;
  if (typeof result === 'boolean') return { allow: result };
  if (result === null || typeof result !== 'object' || Array.isArray(result)) return undefined;
  const r = result as Record<string, unknown>;
  return { allow: r.allow === true, reason: r.reason, status_code: r.status_code, headers: r.headers };
}

function stringHeaders(headers: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) return out;
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string' || typeof value === 'number') out[name.toLowerCase()] = String(value);
  }
  return out;
}

function reasonText(d: Decision): string | undefined {
  return d.reason === undefined ? undefined : typeof d.reason === 'string' ? d.reason : JSON.stringify(d.reason);
}

function refusal(d: Decision, reason: string | undefined): PhaseResult {
  const status = typeof d.status_code === 'number' && Number.isInteger(d.status_code) && d.status_code >= 100 && d.status_code <= 599
    ? d.status_code : 403;
  return { status, body: reason, headers: stringHeaders(d.headers) };
}

export default definePlugin<OpaConf, OpaPrepared>({
  name: 'opa',
  description: 'Asks an Open Policy Agent server whether to let each request through, and answers refusals as the policy says.',
  version: '0.1',
  stage: 'authorization',
  priority: 225,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      host: { type: 'string', pattern: '^https?://' },
      ssl_verify: { type: 'boolean', default: true },
      policy: { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9_./-]+$' },
      timeout: { type: 'integer', minimum: 1, maximum: 60000, default: 3000 },
      ...KEEPALIVE_FIELDS,
      with_route: { type: 'boolean', default: false },
      with_service: { type: 'boolean', default: false },
      with_consumer: { type: 'boolean', default: false },
      send_headers_upstream: { type: 'array', minItems: 1, items: HEADER_NAME_SCHEMA },
    },
    required: ['host', 'policy'],
  },

  prepare(conf) {
    return {
      conf,
      endpoint: `${conf.host.replace(/\/+$/, '')}/v1/data/${conf.policy.replace(/^\/+/, '')}`,
      upstreamHeaders: (conf.send_headers_upstream ?? []).map((h) => h.toLowerCase()),
      pool: poolFor(conf),
    };
  },

  async access(p, ctx) {
    const { conf } = p;
    let text: string | undefined;
    let status: number;
    const deadlineOfCall = deadline(conf.timeout, ctx.signal);
    try {
      const res = await p.pool.request(p.endpoint, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: inputDocument(conf, ctx) }),
        headersTimeout: conf.timeout, bodyTimeout: conf.timeout, signal: deadlineOfCall.signal,
      });
      status = res.statusCode;
      const body = await boundedBody(res.body, MAX_DECISION_BYTES);
      if (body === undefined) res.body.destroy();
      text = body?.toString('utf8');
    } catch (err) {
      ctx.log.error(`opa failed to process the OPA decision from ${p.endpoint}: ${(err as Error).message}`);
      ctx.setVar('opa_status', 'error');
      countError(ctx);
      return { status: 403 };
    } finally {
      deadlineOfCall.clear();
    }
    ctx.setVar('opa_status', status);
    let decision: Decision | undefined;
    try { decision = text === undefined ? undefined : decisionOf(JSON.parse(text)); } catch { decision = undefined; }
    if (decision === undefined) {
      ctx.log.error(`opa got no decision from ${p.endpoint}`);
      countError(ctx);
      return { status: 503 };
    }
    const reason = reasonText(decision);
    if (reason !== undefined) setLoggedText(ctx, 'opa_reason', reason);
    if (!decision.allow) return refusal(decision, reason);
    const resultHeaders = stringHeaders(decision.headers);
    for (const name of p.upstreamHeaders) ctx.request.setHeader(name, resultHeaders[name]);
    return undefined;
  },
});
