// forward-auth: asks an external authorization service about every request (APISIX's
// forward-auth). The auth request carries X-Forwarded-{Proto,Method,Host,Uri,For} (which
// the client cannot override), then the listed `request_headers`; with POST, the client's
// body (read through the bounded request body API). A 2xx answer lets the request
// through with `upstream_headers` copied from it (a name it lacks is removed, so a client
// cannot forge it); any other answer goes back to the client: its status, its body and
// the listed `client_headers`. No answer: `status_on_error`, or through with
// `allow_degradation`.
import { deadline } from '../core/deadline.js';
import type { PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { HEADER_NAME_SCHEMA } from './common/headers.js';
import { boundedBody, KEEPALIVE_FIELDS, poolFor, type ConnectionPolicy, type ServicePool } from './common/http-client.js';
import { routeCounter } from './common/observe.js';

export interface ForwardAuthConf extends ConnectionPolicy {
  uri: string;
  request_method: 'GET' | 'POST';
  request_headers: string[];
  upstream_headers: string[];
  client_headers: string[];
  timeout: number;
  allow_degradation: boolean;
  status_on_error: number;
}

interface ForwardAuthPrepared {
  conf: ForwardAuthConf;
  /** Lower-case names. */
  requestHeaders: readonly string[];
  upstreamHeaders: readonly string[];
  clientHeaders: readonly string[];
  pool: ServicePool;
}

/** The most of an auth service's refusal body relayed to the client; a larger one counts as no answer. */
export const MAX_AUTH_BODY_BYTES = 64 * 1024;

/** For access logs: the auth service's status, or `error` when it gave none. */
registerVariable('forward_auth_status');
/** Calls that got no answer, whatever happened next (status_on_error, or through with allow_degradation). */
const countError = routeCounter('gatehouse_forward_auth_errors_total',
  'forward-auth calls the authorization service did not answer (unreachable, too slow, or a refusal body too large)');

const FORWARDED = ['x-forwarded-proto', 'x-forwarded-method', 'x-forwarded-host', 'x-forwarded-uri', 'x-forwarded-for'];

const headerList = { type: 'array', items: HEADER_NAME_SCHEMA, default: [] };

function authRequestHeaders(p: ForwardAuthPrepared, ctx: PluginContext): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of p.requestHeaders) {
    const v = ctx.request.header(name);
    if (v !== undefined) headers[name] = v;
  }
  const remote = ctx.var('remote_addr');
  // Set last so that a listed client header of the same name cannot override them.
  headers['x-forwarded-proto'] = String(ctx.var('scheme') ?? 'http');
  headers['x-forwarded-method'] = ctx.request.method;
  headers['x-forwarded-host'] = ctx.request.host;
  headers['x-forwarded-uri'] = String(ctx.var('request_uri') ?? ctx.request.uri);
  headers['x-forwarded-for'] = typeof remote === 'string' ? remote : ctx.request.remoteAddr;
  return headers;
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

export default definePlugin<ForwardAuthConf, ForwardAuthPrepared>({
  name: 'forward-auth',
  description: 'Delegates authorization to an external HTTP service: its 2xx lets the request through, anything else is returned to the client.',
  version: '0.1',
  stage: 'authorization',
  priority: 300,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      uri: { type: 'string', pattern: '^https?://' },
      ssl_verify: { type: 'boolean', default: true },
      request_method: { type: 'string', enum: ['GET', 'POST'], default: 'GET' },
      request_headers: headerList,
      upstream_headers: headerList,
      client_headers: headerList,
      timeout: { type: 'integer', minimum: 1, maximum: 60000, default: 3000 },
      ...KEEPALIVE_FIELDS,
      allow_degradation: { type: 'boolean', default: false },
      status_on_error: { type: 'integer', minimum: 200, maximum: 599, default: 403 },
    },
    required: ['uri'],
  },

  prepare(conf) {
    const lower = (list: string[] | undefined): string[] => (list ?? []).map((h) => h.toLowerCase());
    return {
      conf,
      requestHeaders: lower(conf.request_headers).filter((h) => !FORWARDED.includes(h)),
      upstreamHeaders: lower(conf.upstream_headers),
      clientHeaders: lower(conf.client_headers),
      pool: poolFor(conf),
    };
  },

  async access(p, ctx) {
    const { conf } = p;
    const headers = authRequestHeaders(p, ctx);
    let body: Buffer | undefined;
    if (conf.request_method === 'POST') {
      body = await ctx.request.body(); // bounded by node.max_buffered_body_size (413 past it)
      const encoding = ctx.request.header('content-encoding');
      if (encoding !== undefined) headers['content-encoding'] = encoding;
      const type = ctx.request.header('content-type');
      if (type !== undefined && headers['content-type'] === undefined) headers['content-type'] = type;
    }
    let status: number;
    let resHeaders: Record<string, string | string[] | undefined>;
    let resBody: Buffer | undefined;
    const deadlineOfCall = deadline(conf.timeout, ctx.signal);
    try {
      const res = await p.pool.request(conf.uri, {
        method: conf.request_method, headers, body,
        headersTimeout: conf.timeout, bodyTimeout: conf.timeout, signal: deadlineOfCall.signal,
      });
      status = res.statusCode;
      resHeaders = res.headers as Record<string, string | string[] | undefined>;
      if (status < 300) await res.body.dump();
      else {
        resBody = await boundedBody(res.body, MAX_AUTH_BODY_BYTES);
        if (resBody === undefined) {
          res.body.destroy();
          throw new Error(`response body over ${MAX_AUTH_BODY_BYTES} bytes`);
        }
      }
    } catch (err) {
      ctx.log.error(`forward-auth failed to call the authorization service ${conf.uri}: ${(err as Error).message}`);
      ctx.setVar('forward_auth_status', 'error');
      countError(ctx);
      if (conf.allow_degradation) return undefined;
      return { status: conf.status_on_error };
    } finally {
      deadlineOfCall.clear();
    }
    ctx.setVar('forward_auth_status', status);

    if (status >= 300) {
      const out: Record<string, string> = {};
      for (const name of p.clientHeaders) {
        const v = firstValue(resHeaders[name]);
        if (v !== undefined) out[name] = v;
      }
      return { status, body: resBody, headers: out };
    }
    for (const name of p.upstreamHeaders) ctx.request.setHeader(name, firstValue(resHeaders[name]));
    return undefined;
  },
});
