// What plugins calling an external HTTP service (forward-auth, opa) share: connection
// pools with APISIX's keepalive fields, and reading a reply with a size bound.
import { Agent, request, type Dispatcher } from 'undici';

export interface ConnectionPolicy {
  ssl_verify: boolean;
  keepalive: boolean;
  /** ms an idle connection is kept (a longer keep-alive the server announces does not extend it). */
  keepalive_timeout: number;
  /** Idle connections kept per service (lua-resty-http's pool size): more may be open while busy, not kept after. */
  keepalive_pool: number;
}

/** APISIX's keepalive fields, as forward-auth and opa declare them (schema properties). */
export const KEEPALIVE_FIELDS = {
  keepalive: { type: 'boolean', default: true },
  keepalive_timeout: { type: 'integer', minimum: 1000, default: 60000 },
  keepalive_pool: { type: 'integer', minimum: 1, default: 5 },
} as const;

export type ServiceRequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'dispatcher' | 'reset'>;

/**
 * Connections to the services of one connection policy. As in APISIX, `keepalive_pool`
 * bounds the connections kept idle, not the requests in flight: a request sent while
 * `keepalive_pool` others to the same service are in flight goes on a connection that
 * closes after it (`Connection: close`), so no more than `keepalive_pool` connections
 * outlive a burst, and none waits in a queue for a connection.
 */
export class ServicePool {
  private readonly agent: Agent;
  /** Requests in flight per origin (until their reply body is read or dropped). */
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly conf: ConnectionPolicy) {
    this.agent = new Agent({
      connections: null,
      pipelining: conf.keepalive ? 1 : 0,
      keepAliveTimeout: conf.keepalive_timeout,
      keepAliveMaxTimeout: conf.keepalive_timeout,
      connect: { rejectUnauthorized: conf.ssl_verify },
    });
  }

  /** The pool's connections, for callers that send their own requests (the OpenID provider calls, which may go through a proxy): keepalive_pool is not applied to those. */
  get dispatcher(): Dispatcher {
    return this.agent;
  }

  async request(url: string, opts: ServiceRequestOptions): Promise<Dispatcher.ResponseData> {
    const origin = new URL(url).origin;
    const busy = this.inFlight.get(origin) ?? 0;
    this.inFlight.set(origin, busy + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const n = (this.inFlight.get(origin) ?? 1) - 1;
      if (n === 0) this.inFlight.delete(origin);
      else this.inFlight.set(origin, n);
    };
    try {
      const res = await request(url, { ...opts, dispatcher: this.agent, reset: !this.conf.keepalive || busy >= this.conf.keepalive_pool });
      res.body.once('close', release);
      return res;
    } catch (err) {
      release();
      throw err;
    }
  }
}

// One pool per connection policy, shared by every route with the same one: a config
// snapshot must not open a new pool each time it is prepared.
const pools = new Map<string, ServicePool>();
export function poolFor(conf: ConnectionPolicy): ServicePool {
  const key = `${conf.ssl_verify}|${conf.keepalive}|${conf.keepalive_timeout}|${conf.keepalive_pool}`;
  let pool = pools.get(key);
  if (pool === undefined) {
    pool = new ServicePool(conf);
    pools.set(key, pool);
  }
  return pool;
}

export { boundedBody } from '../../core/bounded-body.js';
