// frontend-gray's `rewrite.notFoundUri`: when the upstream answers 404, the page at that
// uri is fetched from the same upstream node, with the same Host header, while the 404's
// head is held (header_filter may wait), and replaces the 404's body. Higress fetched it
// from the `rewrite.host` cluster the same way, after the response had started.
import { deadline } from '../../core/deadline.js';
import { Agent, request } from 'undici';
import type { PluginContext } from '../../contracts/plugin.js';
import { pluginNodeLimits } from '../../plugin-runtime/node-limits.js';
import { boundedBody } from './http-client.js';

/** How long the second request may take, head and body, before the 404 goes out as it came. */
const FETCH_TIMEOUT_MS = 3000;

// As the route's upstream by default (`tls.verify` false); the route's client certificate is not presented.
let agent: Agent | undefined;

export interface NotFoundPage { type: string; body: Buffer }

/** The page at `uri` from the node that answered, when it answers 200 with a body within the buffer limit. */
export async function fetchNotFoundPage(ctx: PluginContext, uri: string): Promise<NotFoundPage | undefined> {
  const addr = ctx.var('upstream_addr');
  if (typeof addr !== 'string' || addr === '') return undefined;
  const scheme = ctx.var('upstream_scheme') === 'https' ? 'https' : 'http';
  const host = ctx.var('upstream_host');
  agent ??= new Agent({ keepAliveTimeout: 10_000, connections: 16, connect: { rejectUnauthorized: false } });
  const limit = deadline(FETCH_TIMEOUT_MS, ctx.signal);
  try {
    const res = await request(`${scheme}://${addr}${uri}`, {
      method: 'GET',
      headers: typeof host === 'string' && host !== '' ? { host } : {},
      dispatcher: agent,
      signal: limit.signal,
    });
    if (res.statusCode !== 200) {
      res.body.destroy();
      return undefined;
    }
    const body = await boundedBody(res.body, pluginNodeLimits().maxBufferedBodySize);
    if (body === undefined) {
      res.body.destroy();
      return undefined;
    }
    const type = res.headers['content-type'];
    return { type: typeof type === 'string' ? type : 'text/html', body };
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message, uri }, 'frontend-gray: fetching notFoundUri failed');
    return undefined;
  } finally {
    limit.clear();
  }
}
