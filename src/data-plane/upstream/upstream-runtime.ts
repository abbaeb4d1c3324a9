import { hostPort } from '../../core/host-port.js';
import type { Balancer, BalancerNode, PickContext } from '../../contracts/balancer.js';
import type { Upstream } from '../../contracts/resources.js';
import type { DiscoveredNode, DiscoveredNodesView } from '../../contracts/discovery.js';
import { logger, type Logger } from '../../core/logger.js';
import { createBalancer, createSharedBalancerState, type SharedBalancerState } from './balancers/index.js';
import { HealthChecker, type PassiveOutcome } from './health-checker.js';
import type { Probe } from './health-probe.js';

/** APISIX's default for each of connect/send/read. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** `host:port`, with IPv6 literals bracketed so the id reads (and parses) unambiguously. */
export function nodeId(host: string, port: number): string {
  return hostPort(host, port);
}

/** Splits `host`, `host:port`, `[v6]` or `[v6]:port`; a bare IPv6 literal has no port. */
export function splitAddress(addr: string): { host: string; port: number | undefined } {
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    const host = addr.slice(1, end < 0 ? undefined : end);
    const rest = end < 0 ? '' : addr.slice(end + 1);
    return { host, port: rest.startsWith(':') ? Number(rest.slice(1)) : undefined };
  }
  const colon = addr.indexOf(':');
  if (colon < 0 || colon !== addr.lastIndexOf(':')) return { host: addr, port: undefined };
  return { host: addr.slice(0, colon), port: Number(addr.slice(colon + 1)) };
}

/**
 * Both of APISIX's node forms, as balancer nodes. A node without a port gets the
 * scheme's default (80, or 443 for https and grpcs), as APISIX does. A duplicate `host:port`
 * keeps its first entry: ids must be unique within an upstream.
 */
export function parseNodes(conf: Upstream): BalancerNode[] {
  const raw: RawNode[] = [];
  const nodes = conf.nodes;
  if (Array.isArray(nodes)) {
    for (const n of nodes) {
      const { host } = splitAddress(n.host);
      raw.push({ host, port: n.port, weight: n.weight, priority: n.priority ?? 0 });
    }
  } else if (nodes !== undefined) {
    for (const [addr, weight] of Object.entries(nodes)) raw.push({ ...splitAddress(addr), weight, priority: 0 });
  }
  return balancerNodes(raw, conf.scheme);
}

/** A registry's nodes (service discovery) as balancer nodes, by the same rules as `parseNodes`. */
export function discoveredNodes(nodes: readonly DiscoveredNode[], scheme: Upstream['scheme']): BalancerNode[] {
  return balancerNodes(nodes.map((n) => ({ host: splitAddress(n.host).host, port: n.port, weight: n.weight, priority: n.priority ?? 0 })), scheme);
}

interface RawNode { host: string; port: number | undefined; weight: number; priority: number }

function balancerNodes(raw: readonly RawNode[], scheme: Upstream['scheme']): BalancerNode[] {
  const defaultPort = scheme === 'https' || scheme === 'grpcs' ? 443 : 80;
  const out: BalancerNode[] = [];
  const seen = new Set<string>();
  for (const r of raw) {
    const port = r.port === undefined || Number.isNaN(r.port) ? defaultPort : r.port;
    const id = nodeId(r.host, port);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ id, host: r.host, port, weight: r.weight, priority: r.priority });
  }
  return out;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = canonical(v);
    }
    return out;
  }
  return value;
}

/**
 * Identity of an upstream's runtime behaviour. Equal keys mean a runtime (balancer
 * state, health state, probes) can carry over to the next config snapshot. Fields that
 * change nothing at runtime (timestamps, `desc`, `labels`) are left out, so editing them
 * does not reset health; the two node forms give the same key.
 */
export function upstreamKey(conf: Upstream): string {
  const { create_time: _c, update_time: _u, desc: _d, labels: _l, nodes: _n, ...rest } = conf;
  const nodes = parseNodes(conf).map(({ id: _id, ...n }) => n);
  return JSON.stringify(canonical({ ...rest, nodes }));
}

interface PriorityGroup {
  readonly priority: number;
  /** Nodes with weight > 0 (the healthy ones, or all when none is healthy), never empty. */
  readonly nodes: readonly BalancerNode[];
  readonly balancer: Balancer;
}

export interface UpstreamRuntimeOptions {
  name?: string;
  /** Replaces the active health probe (tests). */
  probe?: Probe;
  passiveCooldownMs?: number;
  logger?: Logger;
  /** Where a discovered upstream (`service_name` + `discovery_type`) gets its nodes; absent = it has none. */
  discovery?: DiscoveredNodesView;
}

/**
 * One upstream as the proxy uses it: the healthy nodes grouped by priority, one
 * balancer per group, and the health checker that keeps the grouping current.
 * Balancers are rebuilt only when the healthy set changes; what they learn (in-flight
 * counts, latency averages) lives in shared state and survives the rebuild.
 *
 * A discovered upstream's nodes change in place as its registry reports them (the
 * snapshot is not rebuilt): requests in flight keep the node they picked, the next pick
 * sees the new set, nodes that stay keep their health and balancer state, and a node that
 * leaves takes its state with it, so one that comes back starts afresh.
 */
export class UpstreamRuntime {
  readonly conf: Upstream;
  readonly name: string | undefined;
  readonly retryTimeoutMs: number;
  readonly timeouts: { readonly connectMs: number; readonly sendMs: number; readonly readMs: number };
  /** The upstream names a registry's service instead of listing nodes. */
  readonly discovered: boolean;
  private currentNodes: readonly BalancerNode[];
  private readonly checker: HealthChecker | undefined;
  private readonly shared: SharedBalancerState = createSharedBalancerState();
  /** Routes acquire/release to the shared state whichever group the node is in now. */
  private readonly accounting: Balancer | undefined;
  private readonly log: Logger;
  private groups: readonly PriorityGroup[] = [];
  private unsubscribe: (() => void) | undefined;

  constructor(conf: Upstream, opts: UpstreamRuntimeOptions = {}) {
    this.conf = conf;
    this.name = opts.name ?? conf.name ?? conf.id;
    this.log = (opts.logger ?? logger()).child({ module: 'upstream', upstream: this.name });
    this.discovered = conf.service_name !== undefined && conf.discovery_type !== undefined;
    this.currentNodes = this.discovered ? [] : parseNodes(conf);
    this.retryTimeoutMs = (conf.retry_timeout ?? 0) * 1000;
    const ms = (s: number | undefined): number => (s === undefined ? DEFAULT_TIMEOUT_MS : s * 1000);
    this.timeouts = { connectMs: ms(conf.timeout?.connect), sendMs: ms(conf.timeout?.send), readMs: ms(conf.timeout?.read) };
    const usesAccounting = conf.type === 'least_conn' || conf.type === 'ewma';
    this.accounting = usesAccounting ? createBalancer(conf.type, this.currentNodes, { shared: this.shared }) : undefined;
    // Builds the balancers (and throws on an unknown type) before the checker starts any timer.
    this.rebuild(new Set(this.currentNodes.map((n) => n.id)));

    if (conf.checks?.active !== undefined || conf.checks?.passive !== undefined) {
      this.checker = new HealthChecker(this.currentNodes, conf.checks, {
        name: this.name,
        hostHeader: conf.pass_host === 'rewrite' ? conf.upstream_host : undefined,
        probe: opts.probe,
        passiveCooldownMs: opts.passiveCooldownMs,
        logger: opts.logger,
      });
      this.checker.onChange((healthy) => this.rebuild(healthy));
    }
    const type = conf.discovery_type;
    if (this.discovered && type !== undefined && opts.discovery?.enabled(type) === true) {
      const ref = { type, name: conf.service_name!, ...(conf.discovery_args !== undefined ? { args: conf.discovery_args } : {}) };
      this.unsubscribe = opts.discovery.subscribe(ref, (nodes) => this.setNodes(discoveredNodes(nodes ?? [], conf.scheme)));
    }
  }

  get nodes(): readonly BalancerNode[] {
    return this.currentNodes;
  }

  /** `retries`, or one less than the nodes there are now (APISIX's default). */
  get retries(): number {
    return this.conf.retries ?? Math.max(0, this.currentNodes.length - 1);
  }

  /** What a request gets when no node can be picked: a discovered service without nodes is APISIX's `no valid upstream node`. */
  get noNodeError(): 'GH_ERR_UPSTREAM_NO_VALID_NODE' | 'GH_ERR_UPSTREAM_NO_HEALTHY_NODE' {
    return this.discovered && this.currentNodes.length === 0 ? 'GH_ERR_UPSTREAM_NO_VALID_NODE' : 'GH_ERR_UPSTREAM_NO_HEALTHY_NODE';
  }

  /**
   * The node for the next attempt, or undefined when the upstream has no node with a
   * weight above 0 (the proxy answers 503); when none is healthy, all are candidates. The highest priority group with an untried node is used; lower
   * priorities serve only when everything above is unhealthy or already tried. Once
   * every healthy node has been tried, retries reuse the highest priority group.
   */
  pick(ctx: PickContext): BalancerNode | undefined {
    const groups = this.groups;
    const tried = ctx.tried;
    if (tried === undefined || tried.size === 0) return groups[0]?.balancer.pick(ctx);
    for (const g of groups) {
      if (g.nodes.some((n) => !tried.has(n.id))) return g.balancer.pick(ctx);
    }
    return groups[0]?.balancer.pick(ctx);
  }

  acquire(node: BalancerNode): void {
    this.accounting?.acquire?.(node);
  }

  /** `latencyMs` undefined: the attempt ended by the client's doing; the balancer learns nothing from it. */
  release(node: BalancerNode, latencyMs: number | undefined, failed: boolean): void {
    this.accounting?.release?.(node, latencyMs, failed);
  }

  /** Passive health check input; ignored unless `checks.passive` is configured. */
  report(node: BalancerNode, outcome: PassiveOutcome): void {
    this.checker?.report(node.id, outcome);
  }

  healthyNodeIds(): string[] {
    return this.checker ? this.checker.healthyIds() : this.currentNodes.map((n) => n.id);
  }

  /** Stops active probes and discovery updates; the runtime still picks, from the nodes and health it last knew. */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.checker?.stop();
  }

  /** A registry's new node set; nothing changes when it is the same as the current one. */
  private setNodes(next: BalancerNode[]): void {
    if (sameNodes(this.currentNodes, next)) return;
    const kept = new Set(next.map((n) => n.id));
    for (const n of this.currentNodes) if (!kept.has(n.id)) this.shared.ewma.delete(n.id);
    this.currentNodes = next;
    this.checker?.setNodes(next);
    this.rebuild(new Set(this.healthyNodeIds()));
    // the primary logs each change once; every worker's runtimes would repeat it
    this.log.debug({ service: this.conf.service_name, nodes: next.map((n) => n.id) }, 'discovered nodes changed');
  }

  private rebuild(healthy: ReadonlySet<string>): void {
    let groups = this.groupsOf((n) => healthy.has(n.id));
    if (groups.length === 0 && healthy.size < this.currentNodes.length) {
      // APISIX's choice: with every node marked down, health checks are more likely wrong
      // (a probe path that 404s, a blip seen by every node) than every node is dead, so
      // all of them are tried rather than failing every request with a 503.
      groups = this.groupsOf(() => true);
      if (groups.length > 0) this.log.warn('every upstream node is unhealthy; trying all of them');
    }
    this.groups = groups;
  }

  private groupsOf(include: (n: BalancerNode) => boolean): PriorityGroup[] {
    const byPriority = new Map<number, BalancerNode[]>();
    for (const n of this.currentNodes) {
      if (n.weight <= 0 || !include(n)) continue;
      let list = byPriority.get(n.priority);
      if (list === undefined) byPriority.set(n.priority, (list = []));
      list.push(n);
    }
    return [...byPriority.entries()]
      .sort((a, b) => b[0] - a[0])
      .map(([priority, nodes]) => ({
        priority,
        nodes,
        balancer: createBalancer(this.conf.type, nodes, { shared: this.shared }),
      }));
  }
}

function sameNodes(a: readonly BalancerNode[], b: readonly BalancerNode[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.id !== y.id || x.weight !== y.weight || x.priority !== y.priority) return false;
  }
  return true;
}
