import { createHash } from 'node:crypto';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { ACQUIRE_SLOT, FIXED_WINDOW, LEAKY_BUCKET, MARK_UNTIL, THRESHOLD_WINDOW, TOKEN_WINDOW } from './redis-scripts.js';

// The Redis connections of a process, one per distinct target: every limit plugin
// instance that names the same server (or cluster) with the same credentials, database,
// TLS settings and timeout shares one ioredis client. A connection is opened by the first
// operation that needs it (a plugin's prepare opens nothing: the primary prepares configs
// only to validate them) and closed when the last store using it lets go of it.
//
// The client is set up for counting, where a late answer is worth less than none: a
// command that went out before a disconnect is not sent again after the reconnect (it
// may have been counted already), commands waiting for a connection are failed as soon
// as an attempt fails, and a connection that has been silent for twice the timeout while
// commands wait is dropped and opened again (a hung server). The per-operation bound
// itself is the store's (redis-store.ts).

/** A single Redis server (`policy: redis`). */
export interface RedisNodeTarget {
  policy: 'redis';
  host: string;
  port: number;
  username?: string;
  password?: string;
  database: number;
  tls: boolean;
  tlsVerify: boolean;
  timeoutMs: number;
}

/** A Redis Cluster reached through some of its nodes (`policy: redis-cluster`). */
export interface RedisClusterTarget {
  policy: 'redis-cluster';
  /** Seed nodes; the client discovers the others. */
  nodes: { host: string; port: number }[];
  /** The name the configuration gives the cluster (part of its identity, as APISIX's shared dict name). */
  name: string;
  password?: string;
  tls: boolean;
  tlsVerify: boolean;
  timeoutMs: number;
}

export type RedisTarget = RedisNodeTarget | RedisClusterTarget;

export interface ScriptCommands {
  gatehouseWindow(key: string, by: number, windowMs: number): Promise<[number, number]>;
  gatehouseBucket(key: string, rate: number, burst: number): Promise<string>;
  gatehouseAcquire(key: string, max: number, ttlMs: number, slot: string): Promise<number>;
  gatehouseMark(key: string, ttlMs: number): Promise<number>;
  gatehouseThreshold(key: string, threshold: number, windowSeconds: number): Promise<[number, number]>;
  gatehouseTokens(key: string, threshold: number, windowSeconds: number, by: number): Promise<[number, number]>;
}

export type CountingClient = (Redis | Cluster) & ScriptCommands;

/** A shared connection. Holds no reference to the stores using it, so they can be collected. */
export interface RedisConnection {
  readonly client: CountingClient;
  /** The last connection error, for failing fast while the client reconnects. */
  lastError: string | undefined;
  users: number;
}

const RECONNECT_MAX_MS = 1_000;

const connections = new Map<string, RedisConnection>();

/**
 * The identity of a target: everything that makes a connection different. The password
 * is hashed so that the identity, which may show up in a heap snapshot or a debugger,
 * does not carry it in clear.
 */
export function targetId(t: RedisTarget): string {
  const secret = t.password === undefined ? '' : createHash('sha256').update(t.password).digest('base64url');
  const where = t.policy === 'redis'
    ? [t.host, t.port, t.username ?? '', t.database]
    : [t.name, ...t.nodes.map((n) => `${n.host}:${n.port}`)];
  return JSON.stringify([t.policy, ...where, secret, t.tls, t.tlsVerify, t.timeoutMs]);
}

function clientOptions(t: RedisTarget): RedisOptions {
  return {
    connectTimeout: t.timeoutMs,
    socketTimeout: Math.max(2 * t.timeoutMs, 1_000),
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    ...(t.password !== undefined && t.password !== '' ? { password: t.password } : {}),
    ...(t.tls ? { tls: { rejectUnauthorized: t.tlsVerify } } : {}),
    connectionName: 'gatehouse-counters',
  };
}

function createClient(t: RedisTarget): CountingClient {
  const reconnect = (times: number): number => Math.min(100 * times, RECONNECT_MAX_MS);
  const client: Redis | Cluster = t.policy === 'redis'
    ? new Redis({
      ...clientOptions(t),
      host: t.host,
      port: t.port,
      db: t.database,
      ...(t.username !== undefined ? { username: t.username } : {}),
      retryStrategy: reconnect,
    })
    : new Cluster(t.nodes, {
      redisOptions: clientOptions(t),
      clusterRetryStrategy: reconnect,
      slotsRefreshTimeout: t.timeoutMs,
    });
  client.defineCommand('gatehouseWindow', FIXED_WINDOW);
  client.defineCommand('gatehouseBucket', LEAKY_BUCKET);
  client.defineCommand('gatehouseAcquire', ACQUIRE_SLOT);
  client.defineCommand('gatehouseMark', MARK_UNTIL);
  client.defineCommand('gatehouseThreshold', THRESHOLD_WINDOW);
  client.defineCommand('gatehouseTokens', TOKEN_WINDOW);
  return client as CountingClient;
}

/** Takes a share of the connection to `t`, opening it when nobody holds one. */
export function shareConnection(id: string, t: RedisTarget): RedisConnection {
  let conn = connections.get(id);
  if (conn === undefined) {
    const client = createClient(t);
    const created: RedisConnection = { client, lastError: undefined, users: 0 };
    // ioredis reports every failed attempt as an 'error' event; kept for the fail-fast answer
    client.on('error', (err: Error) => { created.lastError = err.message; });
    client.on('ready', () => { created.lastError = undefined; });
    connections.set(id, (conn = created));
  }
  conn.users++;
  return conn;
}

/** Gives a share back; the last one closes the connection. */
export function releaseConnection(id: string): void {
  const conn = connections.get(id);
  if (conn === undefined) return;
  if (--conn.users > 0) return;
  connections.delete(id);
  conn.client.quit().catch(() => conn.client.disconnect());
}

/** Whether commands sent now can reach the server, or would only wait for a reconnect that may not come in time. */
export function reachable(conn: RedisConnection): boolean {
  const s = conn.client.status;
  return s !== 'reconnecting' && s !== 'close' && s !== 'end' && s !== 'disconnecting';
}

/** Connections open in this process (tests: shared per target, closed with their last user). */
export function openConnections(): number {
  return connections.size;
}
