// What plugins calling an external HTTP service (forward-auth, opa) share: connection
// pools keyed by APISIX's keepalive fields, and reading a reply with a size bound.
import { Agent } from 'undici';

export interface ConnectionPolicy {
  ssl_verify: boolean;
  keepalive: boolean;
  keepalive_timeout: number;
  keepalive_pool: number;
}

// One pool per connection policy, shared by every route with the same one: a config
// snapshot must not open a new pool each time it is prepared.
const pools = new Map<string, Agent>();
export function poolFor(conf: ConnectionPolicy): Agent {
  const key = `${conf.ssl_verify}|${conf.keepalive}|${conf.keepalive_timeout}|${conf.keepalive_pool}`;
  let agent = pools.get(key);
  if (agent === undefined) {
    agent = new Agent({
      connections: conf.keepalive ? conf.keepalive_pool : null,
      keepAliveTimeout: conf.keepalive_timeout,
      pipelining: conf.keepalive ? 1 : 0,
      connect: { rejectUnauthorized: conf.ssl_verify },
    });
    pools.set(key, agent);
  }
  return agent;
}

/** Reads at most `maxBytes`; undefined when the body is larger. */
export async function boundedBody(body: AsyncIterable<Buffer>, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
