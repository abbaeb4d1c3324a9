import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import type { ListenConfig } from '../contracts/node-config.js';
import { closeNow, listenOn, type BoundAddress } from '../core/listen.js';

// The Prometheus export, in the primary: `GET /apisix/prometheus/metrics` (APISIX's path,
// so existing scrape configs work) and `/metrics`. Each scrape asks every worker for its
// registry over the cluster IPC channel (prom-client's AggregatorRegistry) and merges
// them: counters and histograms are summed, so the node reads as one. The primary adds
// its own `apisix_node_info`.

export const EXPORT_PATHS: readonly string[] = ['/apisix/prometheus/metrics', '/metrics'];

/** Merged text of every worker's registry ('' with no worker running); prom-client gives up on a silent worker after 5 s. */
export type ClusterScrape = () => Promise<string>;

/**
 * Asks every worker for its registry and merges them. Calls made while one is collecting
 * share its answer instead of asking every worker again: the export and the Admin API's
 * metrics summary use one of these.
 */
export function clusterScrape(): ClusterScrape {
  const aggregator = new AggregatorRegistry();
  return shareInFlight(() => aggregator.clusterMetrics());
}

function shareInFlight(collect: ClusterScrape): ClusterScrape {
  let inFlight: Promise<string> | undefined;
  return () => (inFlight ??= collect().finally(() => { inFlight = undefined; }));
}

export class MetricsExportServer {
  private readonly server: http.Server;
  private readonly own = new Registry();
  private readonly scrapeWorkers: ClusterScrape;

  constructor(private readonly listenOn: ListenConfig, version: string, scrape: ClusterScrape = clusterScrape()) {
    this.scrapeWorkers = shareInFlight(scrape);
    const info = new Gauge({ name: 'apisix_node_info', help: 'Info of the gateway node', labelNames: ['hostname', 'version'], registers: [this.own] });
    info.set({ hostname: hostname(), version }, 1);
    this.server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 },
      (req, res) => {
        req.resume();
        void this.handle(req, res);
      });
  }

  /** The primary's own metrics (beside the workers'), for metrics kept elsewhere in the primary. */
  get registry(): Registry {
    return this.own;
  }

  /** A gauge of the primary's own, read at every scrape. */
  addGauge(name: string, help: string, read: () => number): void {
    new Gauge({ name, help, registers: [this.own], collect() { this.set(read()); } });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0]!;
    if (!EXPORT_PATHS.includes(path)) return send(res, 404, 'text/plain', 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'text/plain', 'method not allowed\n');
    }
    try {
      const [workers, own] = await Promise.all([this.scrapeWorkers(), this.own.metrics()]);
      send(res, 200, this.own.contentType, workers === '' ? own : `${workers.replace(/\n*$/, '\n')}\n${own}`, req.method === 'HEAD');
    } catch (err) {
      send(res, 503, 'text/plain', `metrics unavailable: ${(err as Error).message}\n`);
    }
  }

  listen(): Promise<BoundAddress> {
    return listenOn(this.server, this.listenOn);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, headOnly = false): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(headOnly ? undefined : body);
}
