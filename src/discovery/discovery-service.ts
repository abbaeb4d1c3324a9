import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import type { DiscoveredNode, DiscoveryStatus, ServiceRef } from '../contracts/discovery.js';
import type { Logger } from '../core/logger.js';
import type { Registry, RegistryContext, RegistryFactory, WantedService } from './registry.js';
import { serviceKey, serviceLabel } from './service-key.js';
import { hostPort } from '../core/host-port.js';

// Service discovery in the primary: one set of registry connections per node, whatever
// the number of workers. It tells each registry which services the configuration names,
// keeps the last node set each one reported (so a registry that becomes unreachable
// leaves the last known nodes serving), and hands node-set changes to its listener (the
// primary, which broadcasts them to the workers) batched per tick.

/** A service's node set as it travels to the workers; `null`: the configuration no longer names the service. */
export type NodeSetChange = [key: string, nodes: DiscoveredNode[] | null];

/** How long a configuration change waits for the first answer about a service it newly names. */
export const FIRST_ANSWER_WAIT_MS = 3_000;
/** A failing registry is logged at most this often (with the number of failures since the last line). */
export const FAILURE_LOG_INTERVAL_MS = 10_000;

interface ServiceEntry {
  readonly ref: ServiceRef;
  nodes: DiscoveredNode[] | undefined;
  canonical: string | undefined;
  updatedAt: number | undefined;
  error: string | undefined;
  /** Resolves at the first answer (nodes or a failure). */
  answered: (() => void) | undefined;
}

interface RegistryState {
  readonly type: string;
  readonly registry: Registry;
  readonly services: Map<string, ServiceEntry>;
  reachable: boolean | undefined;
  since: number | undefined;
  lastError: string | undefined;
  errors: number;
  failuresNotLogged: number;
  lastLoggedAt: number;
}

export interface DiscoveryServiceOptions {
  log: Logger;
  firstAnswerWaitMs?: number;
}

export class DiscoveryService {
  private readonly registries = new Map<string, RegistryState>();
  private readonly listeners = new Set<(changes: NodeSetChange[]) => void>();
  private queued: NodeSetChange[] = [];
  private readonly log: Logger;
  private readonly firstAnswerWaitMs: number;
  private closed = false;

  /** `factories`: one per registry type the node config enables. */
  constructor(factories: ReadonlyMap<string, RegistryFactory>, opts: DiscoveryServiceOptions) {
    this.log = opts.log.child({ module: 'discovery' });
    this.firstAnswerWaitMs = opts.firstAnswerWaitMs ?? FIRST_ANSWER_WAIT_MS;
    for (const [type, factory] of factories) {
      const services = new Map<string, ServiceEntry>();
      const log = this.log.child({ discovery_type: type });
      const ctx: RegistryContext = {
        publish: (key, nodes) => this.publish(state, key, nodes),
        failed: (err, key) => this.failed(state, err, key),
        succeeded: () => this.succeeded(state),
        log,
      };
      const state: RegistryState = {
        type, registry: factory(ctx), services, reachable: undefined, since: undefined, lastError: undefined, errors: 0,
        failuresNotLogged: 0, lastLoggedAt: 0,
      };
      this.registries.set(type, state);
    }
  }

  enabledTypes(): string[] {
    return [...this.registries.keys()];
  }

  /**
   * The services the configuration names now (every upstream's `service_name`, any order,
   * duplicates allowed). Services of types not enabled are left out: their upstreams answer
   * 503. Returns, when some service is new, a promise that settles once each new one has
   * had a first answer or after FIRST_ANSWER_WAIT_MS, so the change that names it can wait
   * for its nodes instead of answering 503 meanwhile.
   */
  want(refs: Iterable<ServiceRef>): Promise<void> | undefined {
    if (this.closed) return undefined;
    const byType = new Map<string, Map<string, WantedService>>();
    for (const ref of refs) {
      if (!this.registries.has(ref.type)) continue;
      let services = byType.get(ref.type);
      if (services === undefined) byType.set(ref.type, services = new Map());
      const key = serviceKey(ref);
      if (!services.has(key)) services.set(key, { key, ref });
    }
    const waits: Promise<void>[] = [];
    for (const state of this.registries.values()) {
      const next = byType.get(state.type) ?? new Map<string, WantedService>();
      let changed = false;
      for (const key of state.services.keys()) {
        if (next.has(key)) continue;
        state.services.get(key)!.answered?.();
        state.services.delete(key);
        this.queue([key, null]);
        changed = true;
      }
      for (const [key, wanted] of next) {
        if (state.services.has(key)) continue;
        const entry: ServiceEntry = { ref: wanted.ref, nodes: undefined, canonical: undefined, updatedAt: undefined, error: undefined, answered: undefined };
        waits.push(new Promise<void>((resolve) => { entry.answered = resolve; }));
        state.services.set(key, entry);
        changed = true;
      }
      if (changed) state.registry.want([...next.values()]);
    }
    if (waits.length === 0) return undefined;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.firstAnswerWaitMs);
      void Promise.all(waits).then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Every node set known now: what a new worker starts from. */
  current(): NodeSetChange[] {
    const out: NodeSetChange[] = [];
    for (const state of this.registries.values()) {
      for (const [key, e] of state.services) if (e.nodes !== undefined) out.push([key, e.nodes]);
    }
    return out;
  }

  /** `cb` gets the changes of one tick; returns an unsubscribe function. */
  onChange(cb: (changes: NodeSetChange[]) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  status(): DiscoveryStatus {
    const out: DiscoveryStatus = {};
    for (const s of this.registries.values()) {
      const services: DiscoveryStatus[string]['services'] = {};
      for (const e of s.services.values()) {
        services[serviceLabel(e.ref)] = {
          nodes: e.nodes ?? null,
          ...(e.updatedAt !== undefined ? { updated_at: new Date(e.updatedAt).toISOString() } : {}),
          ...(e.error !== undefined ? { error: e.error } : {}),
        };
      }
      out[s.type] = {
        reachable: s.reachable === true,
        ...(s.since !== undefined ? { since: new Date(s.since).toISOString() } : {}),
        ...(s.lastError !== undefined ? { last_error: s.lastError } : {}),
        errors: s.errors,
        services,
      };
    }
    return out;
  }

  /** `gatehouse_discovery_errors_total{type}` on the primary's Prometheus export. */
  registerMetrics(registry: MetricsRegistry): void {
    const registries = this.registries;
    new Counter({
      name: 'gatehouse_discovery_errors_total',
      help: 'Failed fetches from a service registry (the last known nodes keep serving)',
      labelNames: ['type'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of registries.values()) this.inc({ type: s.type }, s.errors);
      },
    });
  }

  close(): void {
    this.closed = true;
    for (const s of this.registries.values()) {
      try {
        s.registry.close();
      } catch (err) {
        this.log.warn({ err, discovery_type: s.type }, 'registry did not close cleanly');
      }
      for (const e of s.services.values()) e.answered?.();
    }
    this.listeners.clear();
  }

  private publish(state: RegistryState, key: string, nodes: DiscoveredNode[]): void {
    const e = state.services.get(key);
    if (e === undefined || this.closed) return;
    e.error = undefined;
    this.settle(e);
    const canonical = canonicalNodes(nodes);
    if (canonical === e.canonical) return;
    e.nodes = nodes;
    e.canonical = canonical;
    e.updatedAt = Date.now();
    this.log.info({ discovery_type: state.type, service: serviceLabel(e.ref), nodes: nodes.map(nodeName) }, 'discovered nodes changed');
    this.queue([key, nodes]);
  }

  private failed(state: RegistryState, err: unknown, key: string | undefined): void {
    if (this.closed) return;
    const message = err instanceof Error ? err.message : String(err);
    state.errors++;
    state.lastError = message;
    if (state.reachable !== false) {
      state.reachable = false;
      state.since = Date.now();
    }
    if (key !== undefined) {
      const e = state.services.get(key);
      if (e !== undefined) {
        e.error = message;
        this.settle(e);
      }
    } else {
      for (const e of state.services.values()) this.settle(e);
    }
    const now = Date.now();
    if (now - state.lastLoggedAt < FAILURE_LOG_INTERVAL_MS) {
      state.failuresNotLogged++;
      return;
    }
    const failures = state.failuresNotLogged + 1;
    state.failuresNotLogged = 0;
    state.lastLoggedAt = now;
    this.log.error({ discovery_type: state.type, err: message, failures, ...(key !== undefined ? { service: key } : {}) },
      'service registry fetch failed; the last known nodes keep serving');
  }

  private succeeded(state: RegistryState): void {
    if (state.reachable === true || this.closed) return;
    const wasDown = state.reachable === false;
    state.reachable = true;
    state.since = Date.now();
    if (wasDown) this.log.warn({ discovery_type: state.type, failures: state.failuresNotLogged }, 'service registry answers again');
    state.failuresNotLogged = 0;
  }

  private settle(e: ServiceEntry): void {
    const answered = e.answered;
    e.answered = undefined;
    answered?.();
  }

  private queue(change: NodeSetChange): void {
    if (this.queued.length === 0) setImmediate(() => this.flush());
    this.queued.push(change);
  }

  private flush(): void {
    const changes = this.queued;
    this.queued = [];
    if (changes.length === 0 || this.closed) return;
    for (const cb of this.listeners) {
      try {
        cb(changes);
      } catch (err) {
        this.log.error({ err }, 'discovery change listener failed');
      }
    }
  }
}

function nodeName(n: DiscoveredNode): string {
  return n.port === undefined ? n.host : hostPort(n.host, n.port);
}

/** The set's identity regardless of order: registries list the same nodes in varying order. */
function canonicalNodes(nodes: readonly DiscoveredNode[]): string {
  return JSON.stringify(nodes.map((n) => [n.host, n.port ?? 0, n.weight, n.priority ?? 0, n.metadata ?? null])
    .sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : String(a[0]) > String(b[0]) ? 1 : Number(a[1]) - Number(b[1]))));
}
