import { urlHost } from '../../core/host-port.js';
import type { BalancerNode } from '../../contracts/balancer.js';
import type { HealthCheckActive, HealthCheckPassive, Upstream } from '../../contracts/resources.js';
import { logger, type Logger } from '../../core/logger.js';
import { classifyNetworkError, defaultProbe, type NetworkErrorKind, type Probe, type ProbeOutcome, type ProbeTarget } from './health-probe.js';

/** What the proxy saw on one attempt, for passive checks. */
export type PassiveOutcome = { status: number } | { error: NetworkErrorKind };

interface Thresholds {
  successes: number;
  httpFailures: number;
  tcpFailures: number;
  timeouts: number;
}

export interface ResolvedActiveCheck {
  type: 'http' | 'https' | 'tcp';
  timeoutMs: number;
  concurrency: number;
  httpMethod: string;
  httpPath: string;
  httpReqBody: string;
  host?: string;
  port?: number;
  verifyCertificate: boolean;
  reqHeaders: Record<string, string>;
  healthyIntervalMs: number;
  unhealthyIntervalMs: number;
  healthyStatuses: ReadonlySet<number>;
  unhealthyStatuses: ReadonlySet<number>;
  thresholds: Thresholds;
}

export interface ResolvedPassiveCheck {
  type: 'http' | 'https' | 'tcp';
  healthyStatuses: ReadonlySet<number>;
  unhealthyStatuses: ReadonlySet<number>;
  thresholds: Thresholds;
}

// APISIX's defaults (upstream schema / lua-resty-healthcheck).
const ACTIVE_HEALTHY_STATUSES = [200, 302];
const ACTIVE_UNHEALTHY_STATUSES = [429, 404, 500, 501, 502, 503, 504, 505];
const PASSIVE_HEALTHY_STATUSES = [
  200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308,
];
const PASSIVE_UNHEALTHY_STATUSES = [429, 500, 503];

/**
 * How long a node taken out by passive checks alone stays out. APISIX never brings such
 * a node back without active checks (its docs say to configure both); we let it serve
 * again after this cool-down, like nginx's `fail_timeout`, so a passive-only upstream
 * cannot lose every node for good. Its counters start afresh, so it is taken out again
 * after the configured number of failures.
 */
export const PASSIVE_COOLDOWN_MS = 10_000;

/** Fills in APISIX's defaults; an absent section stays absent (that kind of check is off). */
export function resolveActiveCheck(a: HealthCheckActive): ResolvedActiveCheck {
  const reqHeaders: Record<string, string> = {};
  for (const line of a.req_headers ?? []) {
    const colon = line.indexOf(':');
    if (colon > 0) reqHeaders[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return {
    type: a.type ?? 'http',
    timeoutMs: (a.timeout ?? 1) * 1000,
    concurrency: Math.max(1, a.concurrency ?? 10),
    httpMethod: a.http_method ?? 'GET',
    httpPath: a.http_path ?? '/',
    httpReqBody: a.http_req_body ?? '',
    host: a.host,
    port: a.port,
    verifyCertificate: a.https_verify_certificate ?? true,
    reqHeaders,
    healthyIntervalMs: (a.healthy?.interval ?? 1) * 1000,
    unhealthyIntervalMs: (a.unhealthy?.interval ?? 1) * 1000,
    healthyStatuses: new Set(a.healthy?.http_statuses ?? ACTIVE_HEALTHY_STATUSES),
    unhealthyStatuses: new Set(a.unhealthy?.http_statuses ?? ACTIVE_UNHEALTHY_STATUSES),
    thresholds: {
      successes: a.healthy?.successes ?? 2,
      httpFailures: a.unhealthy?.http_failures ?? 5,
      tcpFailures: a.unhealthy?.tcp_failures ?? 2,
      timeouts: a.unhealthy?.timeouts ?? 3,
    },
  };
}

export function resolvePassiveCheck(p: HealthCheckPassive): ResolvedPassiveCheck {
  return {
    type: p.type ?? 'http',
    healthyStatuses: new Set(p.healthy?.http_statuses ?? PASSIVE_HEALTHY_STATUSES),
    unhealthyStatuses: new Set(p.unhealthy?.http_statuses ?? PASSIVE_UNHEALTHY_STATUSES),
    thresholds: {
      successes: p.healthy?.successes ?? 5,
      httpFailures: p.unhealthy?.http_failures ?? 5,
      tcpFailures: p.unhealthy?.tcp_failures ?? 2,
      timeouts: p.unhealthy?.timeouts ?? 7,
    },
  };
}

type Verdict = 'success' | 'http_failure' | 'tcp_failure' | 'timeout' | 'ignore';

function verdictOf(outcome: ProbeOutcome, healthy: ReadonlySet<number>, unhealthy: ReadonlySet<number>, tcpOnly: boolean): Verdict {
  if ('connected' in outcome) return 'success';
  if ('error' in outcome) return outcome.error === 'timeout' ? 'timeout' : 'tcp_failure';
  // A tcp check only asks whether the node answers at all; any HTTP status says it does.
  if (tcpOnly) return 'success';
  if (healthy.has(outcome.status)) return 'success';
  if (unhealthy.has(outcome.status)) return 'http_failure';
  return 'ignore';
}

interface NodeHealth {
  /** Replaced when a registry reports the same address with another weight or priority. */
  node: BalancerNode;
  healthy: boolean;
  successes: number;
  httpFailures: number;
  tcpFailures: number;
  timeouts: number;
  timer: NodeJS.Timeout | undefined;
  probing: boolean;
}

export interface HealthCheckerOptions {
  /** For log lines. */
  name?: string;
  /** Host header for probes when `checks.active.host` is unset (e.g. the upstream's `upstream_host`); default the node's host. */
  hostHeader?: string;
  /** Replaces the network probe (tests). */
  probe?: Probe;
  passiveCooldownMs?: number;
  logger?: Logger;
}

/**
 * Health of one upstream's nodes, with APISIX's `checks` semantics: consecutive
 * successes bring a node back, consecutive failures of one kind (HTTP status, TCP
 * error, timeout) take it out; a success clears the failure counts and any failure
 * clears the success count. Active probes and passive reports share the counters, each
 * judged by its own thresholds. A threshold of 0 disables that rule. Nodes start
 * healthy; active probing starts on construction.
 */
export class HealthChecker {
  readonly active: ResolvedActiveCheck | undefined;
  readonly passive: ResolvedPassiveCheck | undefined;
  private readonly nodes = new Map<string, NodeHealth>();
  private readonly listeners = new Set<(healthy: ReadonlySet<string>) => void>();
  private readonly probe: Probe;
  private readonly log: Logger;
  private readonly cooldownMs: number;
  private readonly hostHeader: string | undefined;
  private stopped = false;
  /** Probes running now, and nodes waiting for a slot (`checks.active.concurrency`). */
  private probesRunning = 0;
  private readonly waitingForSlot: NodeHealth[] = [];

  constructor(nodes: readonly BalancerNode[], checks: Upstream['checks'], opts: HealthCheckerOptions = {}) {
    this.active = checks?.active ? resolveActiveCheck(checks.active) : undefined;
    this.passive = checks?.passive ? resolvePassiveCheck(checks.passive) : undefined;
    this.probe = opts.probe ?? defaultProbe;
    this.cooldownMs = opts.passiveCooldownMs ?? PASSIVE_COOLDOWN_MS;
    this.hostHeader = opts.hostHeader;
    this.log = (opts.logger ?? logger()).child({ module: 'health-checker', upstream: opts.name });
    this.setNodes(nodes);
  }

  /**
   * The nodes to check now (service discovery changes them): a node that stays keeps its
   * health and counters, a new one starts healthy with fresh counters and its own probe
   * schedule, a node that left is forgotten (its timer stopped, a probe in flight for it
   * ignored), so one that comes back later starts afresh. Listeners are not called: the
   * caller rebuilds from `healthyIds()` itself.
   */
  setNodes(nodes: readonly BalancerNode[]): void {
    const ids = new Set(nodes.map((n) => n.id));
    for (const [id, h] of this.nodes) {
      if (ids.has(id)) continue;
      clearTimeout(h.timer);
      h.timer = undefined;
      this.nodes.delete(id);
    }
    for (let i = this.waitingForSlot.length - 1; i >= 0; i--) {
      if (this.nodes.get(this.waitingForSlot[i]!.node.id) !== this.waitingForSlot[i]) this.waitingForSlot.splice(i, 1);
    }
    for (const node of nodes) {
      const known = this.nodes.get(node.id);
      if (known !== undefined) {
        known.node = node;
        continue;
      }
      const h: NodeHealth = {
        node, healthy: true, successes: 0, httpFailures: 0, tcpFailures: 0, timeouts: 0, timer: undefined, probing: false,
      };
      this.nodes.set(node.id, h);
      this.schedule(h);
    }
  }

  isHealthy(nodeId: string): boolean {
    return this.nodes.get(nodeId)?.healthy ?? false;
  }

  /** Healthy node ids, in node order. */
  healthyIds(): string[] {
    const out: string[] = [];
    for (const h of this.nodes.values()) if (h.healthy) out.push(h.node.id);
    return out;
  }

  /** Passive check input. Ignored when no passive check is configured, as APISIX does. */
  report(nodeId: string, outcome: PassiveOutcome): void {
    const p = this.passive;
    const h = this.nodes.get(nodeId);
    if (p === undefined || h === undefined || this.stopped) return;
    this.apply(h, verdictOf(outcome, p.healthyStatuses, p.unhealthyStatuses, p.type === 'tcp'), p.thresholds, 'passive');
  }

  /** `cb` gets the healthy set after each change; returns an unsubscribe function. */
  onChange(cb: (healthy: ReadonlySet<string>) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  stop(): void {
    this.stopped = true;
    for (const h of this.nodes.values()) {
      clearTimeout(h.timer);
      h.timer = undefined;
    }
    this.listeners.clear();
  }

  private apply(h: NodeHealth, verdict: Verdict, t: Thresholds, source: 'active' | 'passive'): void {
    switch (verdict) {
      case 'ignore':
        return;
      case 'success':
        h.httpFailures = h.tcpFailures = h.timeouts = 0;
        h.successes++;
        if (!h.healthy && t.successes > 0 && h.successes >= t.successes) this.setHealthy(h, true, `${source} check`);
        return;
      case 'http_failure':
        h.successes = 0;
        if (++h.httpFailures >= t.httpFailures && t.httpFailures > 0) this.setHealthy(h, false, `${source} check: http failures`);
        return;
      case 'tcp_failure':
        h.successes = 0;
        if (++h.tcpFailures >= t.tcpFailures && t.tcpFailures > 0) this.setHealthy(h, false, `${source} check: tcp failures`);
        return;
      case 'timeout':
        h.successes = 0;
        if (++h.timeouts >= t.timeouts && t.timeouts > 0) this.setHealthy(h, false, `${source} check: timeouts`);
        return;
    }
  }

  private setHealthy(h: NodeHealth, healthy: boolean, reason: string): void {
    if (h.healthy === healthy) return;
    h.healthy = healthy;
    h.successes = h.httpFailures = h.tcpFailures = h.timeouts = 0;
    if (healthy) this.log.info({ node: h.node.id, reason }, 'upstream node is healthy again');
    else this.log.warn({ node: h.node.id, reason }, 'upstream node marked unhealthy');

    clearTimeout(h.timer);
    h.timer = undefined;
    if (this.active !== undefined) this.schedule(h);
    else if (!healthy) {
      h.timer = setTimeout(() => {
        h.timer = undefined;
        if (!this.stopped) this.setHealthy(h, true, 'passive cool-down elapsed');
      }, this.cooldownMs);
      h.timer.unref();
    }

    const set: ReadonlySet<string> = new Set(this.healthyIds());
    for (const cb of this.listeners) {
      try {
        cb(set);
      } catch (err) {
        this.log.error({ err }, 'health change listener failed');
      }
    }
  }

  /** Next probe after the interval for the node's current state; probes never overlap. */
  private schedule(h: NodeHealth): void {
    const a = this.active;
    if (a === undefined || this.stopped || h.probing || h.timer !== undefined) return;
    const interval = h.healthy ? a.healthyIntervalMs : a.unhealthyIntervalMs;
    if (!(interval > 0)) return;
    h.timer = setTimeout(() => {
      h.timer = undefined;
      void this.runProbe(h, a);
    }, interval);
    h.timer.unref();
  }

  private async runProbe(h: NodeHealth, a: ResolvedActiveCheck): Promise<void> {
    if (this.stopped) return;
    h.probing = true;
    if (this.probesRunning >= a.concurrency) {
      this.waitingForSlot.push(h);
      return;
    }
    this.probesRunning++;
    let outcome: ProbeOutcome;
    try {
      outcome = await this.probe(this.targetFor(h.node, a));
    } catch (err) {
      outcome = { error: classifyNetworkError(err) };
    } finally {
      h.probing = false;
      this.probesRunning--;
      const next = this.waitingForSlot.shift();
      if (next !== undefined) {
        next.probing = false;
        void this.runProbe(next, a);
      }
    }
    // stopped, or the node left (service discovery) while it was probed
    if (this.stopped || this.nodes.get(h.node.id) !== h) return;
    this.apply(h, verdictOf(outcome, a.healthyStatuses, a.unhealthyStatuses, a.type === 'tcp'), a.thresholds, 'active');
    this.schedule(h);
  }

  private targetFor(node: BalancerNode, a: ResolvedActiveCheck): ProbeTarget {
    const host = a.host ?? this.hostHeader ?? node.host;
    return {
      type: a.type,
      address: node.host,
      port: a.port ?? node.port,
      timeoutMs: a.timeoutMs,
      path: a.httpPath,
      method: a.httpMethod,
      body: a.httpReqBody === '' ? undefined : a.httpReqBody,
      hostHeader: urlHost(host),
      headers: a.reqHeaders,
      verifyCertificate: a.verifyCertificate,
    };
  }
}
