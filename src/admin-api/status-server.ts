// Liveness and readiness: `GET /status` answers while the process is up; `GET
// /status/ready` answers 200 only when every worker runs and has applied the newest
// configuration revision, else 503 naming the workers that lag. `GET /status/discovery`
// shows what service discovery found (as APISIX's control API `/v1/discovery/…/dump`). Served on
// `status.listen` without authentication (bind it to loopback or a private network);
// without a status listener the Admin API serves the same two paths.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { StoreReachability } from '../cluster/cluster-mode.js';
import type { ListenConfig } from '../contracts/node-config.js';
import type { DiscoveryStatus } from '../contracts/discovery.js';
import { closeNow, listenOn, type BoundAddress } from '../core/listen.js';

export interface WorkerStatus {
  index: number;
  pid: number | undefined;
  /** The configuration revision the worker has applied. */
  revision: number;
  /** Its data-plane listeners are bound. */
  listening: boolean;
  /** Why it cannot take connections now (e.g. out of descriptors). */
  acceptBlocked?: string;
}

export interface StatusSource {
  /** How many workers the node should run (indexes 0..n-1). */
  expectedWorkers(): number;
  workers(): WorkerStatus[];
  /** The newest configuration revision: what every worker must have applied to be ready. */
  revision(): number;
  /** Why the configuration store cannot take writes (ConfigStore.problem), or undefined. */
  storeProblem?(): string | undefined;
  /** Why the primary cannot accept connections now, if it cannot. */
  primaryProblem?(): string | undefined;
  /**
   * A shared store's reachability (cluster mode). An unreachable store does not make the
   * node unready: it serves its last configuration, and readiness says how stale it is.
   */
  storeReachability?(): StoreReachability | undefined;
  /** Per registry of `discovery:`: reachability, errors and the node set of every service the configuration names. */
  discovery?(): DiscoveryStatus;
}

export interface Readiness {
  ready: boolean;
  revision: number;
  workers: WorkerStatus[];
  /** Why not ready, one entry per lagging or missing worker. */
  problems: string[];
  store?: StoreReachability;
}

export function readiness(source: StatusSource): Readiness {
  const revision = source.revision();
  const workers = source.workers().sort((a, b) => a.index - b.index);
  const problems: string[] = [];
  const store = source.storeProblem?.();
  if (store !== undefined) problems.push(store);
  const primary = source.primaryProblem?.();
  if (primary !== undefined) problems.push(primary);
  for (let i = 0; i < source.expectedWorkers(); i++) {
    if (!workers.some((w) => w.index === i)) problems.push(`worker ${i} is not running`);
  }
  for (const w of workers) {
    const name = `worker ${w.index} (pid ${w.pid ?? '?'})`;
    if (!w.listening) problems.push(`${name} is starting`);
    else if (w.acceptBlocked !== undefined) problems.push(`${name} cannot accept connections: ${w.acceptBlocked}`);
    else if (w.revision !== revision) problems.push(`${name} is at revision ${w.revision}, expected ${revision}`);
  }
  const reach = source.storeReachability?.();
  return { ready: problems.length === 0, revision, workers, problems, ...(reach !== undefined ? { store: reach } : {}) };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers `/status`, `/status/ready` and `/status/discovery`; returns false for any other path. */
export function handleStatusRequest(req: IncomingMessage, res: ServerResponse, source: StatusSource): boolean {
  const path = (req.url ?? '').split('?')[0]!.replace(/\/+$/, '');
  if (path !== '/status' && path !== '/status/ready' && path !== '/status/discovery') return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, { error_msg: `not supported \`${req.method ?? ''}\` method for ${path}` });
    return true;
  }
  if (path === '/status') {
    send(res, 200, { status: 'ok' });
    return true;
  }
  if (path === '/status/discovery') {
    // A registry being unreachable does not make the node unready: the last known nodes serve.
    send(res, 200, { discovery: source.discovery?.() ?? {} });
    return true;
  }
  const r = readiness(source);
  const workers = r.workers.map(({ index, pid, revision }) => ({ index, pid, revision }));
  // cluster mode: the store's reachability, and whether the revision served may be stale
  const store = r.store === undefined ? {} : { store: { ...r.store, stale: !r.store.reachable || r.store.fromLocalSnapshot } };
  if (r.ready) send(res, 200, { status: 'ready', revision: r.revision, workers, ...store });
  else send(res, 503, { status: 'not ready', error_msg: r.problems.join('; '), revision: r.revision, workers, ...store });
  return true;
}

export class StatusServer {
  private readonly server: http.Server;

  constructor(private readonly listenOn: ListenConfig, source: StatusSource) {
    this.server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 },
      (req, res) => {
        // Request bodies mean nothing here; drop them so keep-alive connections stay usable.
        req.resume();
        if (!handleStatusRequest(req, res, source)) send(res, 404, { error_msg: 'not found' });
      });
  }

  listen(): Promise<BoundAddress> {
    return listenOn(this.server, this.listenOn);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }
}
