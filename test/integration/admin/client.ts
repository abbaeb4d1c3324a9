// A small Admin API client for the integration tests: JSON in, status + parsed body out.
import { Agent, request } from 'undici';
import type { Gateway } from '../../helpers/gateway.js';

export interface AdminReply<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: T;
}

export interface CallOptions {
  /** The key to send in X-API-KEY; null sends none; default the gateway's admin key. */
  key?: string | null;
  headers?: Record<string, string>;
  /** Sent as is instead of JSON-encoding `body`. */
  raw?: string | Buffer;
}

const agent = new Agent({ keepAliveTimeout: 2000, connections: 32 });

export type AdminCall = <T = any>(method: string, path: string, body?: unknown, opts?: CallOptions) => Promise<AdminReply<T>>;

/** `call('PUT', '/routes/1', {...})` against `gw.adminUrl`. */
export function adminClient(gw: Pick<Gateway, 'adminUrl' | 'adminKey'>): AdminCall {
  return async (method, path, body, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const key = opts.key === undefined ? gw.adminKey : opts.key;
    if (key !== null) headers['x-api-key'] = key;
    let payload: string | Buffer | undefined = opts.raw;
    if (payload === undefined && body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await request(gw.adminUrl + path, { method: method as 'GET', headers, body: payload, dispatcher: agent });
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.statusCode, headers: res.headers as AdminReply['headers'], text, body: parsed as any };
  };
}

/** A route value pointing at a local port. */
export const routeTo = (uri: string, port: number): Record<string, unknown> =>
  ({ uri, upstream: { nodes: { [`127.0.0.1:${port}`]: 1 } } });
