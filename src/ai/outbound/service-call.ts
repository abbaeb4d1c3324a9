// The one way an AI plugin calls out: a request to a service beside the model (an embeddings
// endpoint, a vector index, a search API) or to a model itself (llm-client.ts), through a
// pool of connections, with a deadline that also ends when the client goes away, and a
// bound on the reply read into memory.
import { deadline } from '../../core/deadline.js';
import type { Dispatcher } from 'undici';
import type { PluginContext } from '../../contracts/plugin.js';

/** Where the request goes out: src/plugins/common/http-client.ts's ServicePool (the caller's keepalive policy). */
export interface ServiceConnections {
  request(url: string, opts: Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'dispatcher' | 'reset'>): Promise<Dispatcher.ResponseData>;
}

export interface ServiceCallPolicy {
  connections: ServiceConnections;
  /** ms for the whole call: connecting, the headers and the body. */
  timeout: number;
  /** The largest reply body read; a larger one fails the call. */
  maxReplyBytes: number;
}

export interface ServiceReply {
  status: number;
  contentType: string | undefined;
  body: Buffer;
}

/** What ended a call without a reply: `network` is refused, reset, TLS and the like. */
export type ServiceFailure = 'timeout' | 'aborted' | 'too_large' | 'network';

/** Why a call got no usable reply: `timeout`, or `error` (refused, reset, TLS, too large, aborted); `failure` tells which. */
export class ServiceCallError extends Error {
  readonly kind: 'timeout' | 'error';
  constructor(readonly failure: ServiceFailure, message: string, readonly status?: number) {
    super(message);
    this.kind = failure === 'timeout' ? 'timeout' : 'error';
  }
}

export interface ServiceRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** POSTs `json` to `url` with `headers`; the reply whatever its status. Throws ServiceCallError. */
export function postJson(ctx: PluginContext, url: string, headers: Record<string, string>, json: unknown,
  policy: ServiceCallPolicy): Promise<ServiceReply> {
  return callService(ctx, { method: 'POST', url, headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body: JSON.stringify(json) }, policy);
}

/** Sends `req`; the reply whatever its status. Throws ServiceCallError. */
export function callService(ctx: PluginContext, req: ServiceRequest, policy: ServiceCallPolicy): Promise<ServiceReply> {
  return sendBounded(req, policy, ctx.signal);
}

/** callService for a caller with no PluginContext: `signal` (when given) ends the call early, as the client going away does. */
export async function sendBounded(req: ServiceRequest, policy: ServiceCallPolicy, signal?: AbortSignal): Promise<ServiceReply> {
  const limit = deadline(policy.timeout, signal);
  try {
    const res = await policy.connections.request(req.url, {
      method: req.method, headers: req.headers, body: req.body,
      headersTimeout: policy.timeout, bodyTimeout: policy.timeout, signal: limit.signal,
    });
    const parts: Buffer[] = [];
    let size = 0;
    for await (const part of res.body as AsyncIterable<Buffer>) {
      if ((size += part.length) > policy.maxReplyBytes) {
        res.body.destroy();
        throw new ServiceCallError('too_large', `reply over ${policy.maxReplyBytes} bytes`, res.statusCode);
      }
      parts.push(part);
    }
    const body = Buffer.concat(parts, size);
    const type = res.headers['content-type'];
    return { status: res.statusCode, contentType: Array.isArray(type) ? type[0] : type, body };
  } catch (err) {
    if (err instanceof ServiceCallError) throw err;
    const code = (err as { code?: string }).code;
    const timedOut = limit.signal.aborted && (limit.signal.reason as Error | undefined)?.name === 'TimeoutError';
    if (timedOut || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') throw new ServiceCallError('timeout', `no reply within ${policy.timeout} ms`);
    throw new ServiceCallError(signal?.aborted === true ? 'aborted' : 'network', (err as Error).message);
  } finally {
    limit.clear();
  }
}
