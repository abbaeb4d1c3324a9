import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { DiscoveredNode, DiscoveredNodesView, ServiceRef } from '../../contracts/discovery.js';
import type { Upstream } from '../../contracts/resources.js';
import type { ProbeOutcome, ProbeTarget } from './health-probe.js';
import { UpstreamRuntime } from './upstream-runtime.js';
import { until } from '../../../test/helpers/discovery.js';

const quiet = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A registry view whose sets the test changes by hand. */
class FakeView implements DiscoveredNodesView {
  readonly subscribed: ServiceRef[] = [];
  private readonly watchers = new Set<(nodes: readonly DiscoveredNode[] | undefined) => void>();
  private nodes: readonly DiscoveredNode[] | undefined;

  enabled(type: string): boolean {
    return type === 'dns';
  }

  subscribe(ref: ServiceRef, onNodes: (nodes: readonly DiscoveredNode[] | undefined) => void): () => void {
    this.subscribed.push(ref);
    this.watchers.add(onNodes);
    onNodes(this.nodes);
    return () => this.watchers.delete(onNodes);
  }

  set(nodes: DiscoveredNode[]): void {
    this.nodes = nodes;
    for (const w of this.watchers) w(nodes);
  }

  get watching(): number {
    return this.watchers.size;
  }
}

const discovered = (extra: Partial<Upstream> = {}): Upstream => ({ discovery_type: 'dns', service_name: 'svc.test', ...extra });

function ids(rt: UpstreamRuntime, n = 20): string[] {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const node = rt.pick({});
    if (node !== undefined) seen.add(node.id);
  }
  return [...seen].sort();
}

describe('UpstreamRuntime with discovered nodes', () => {
  it('has no node (no valid upstream node) until the registry answers, then picks what it reported', () => {
    const view = new FakeView();
    const rt = new UpstreamRuntime(discovered({ discovery_args: { group_name: 'g' } }), { logger: quiet, discovery: view });
    assert.deepEqual(view.subscribed, [{ type: 'dns', name: 'svc.test', args: { group_name: 'g' } }]);
    assert.equal(rt.pick({}), undefined);
    assert.equal(rt.noNodeError, 'GH_ERR_UPSTREAM_NO_VALID_NODE');
    view.set([{ host: '10.0.0.1', weight: 1 }, { host: '10.0.0.2', port: 8080, weight: 1 }]);
    assert.deepEqual(ids(rt), ['10.0.0.1:80', '10.0.0.2:8080']);
    assert.equal(rt.noNodeError, 'GH_ERR_UPSTREAM_NO_HEALTHY_NODE');
    assert.equal(rt.retries, 1, 'retries follow the node count');
    view.set([{ host: '10.0.0.3', weight: 1 }]);
    assert.deepEqual(ids(rt), ['10.0.0.3:80']);
    assert.equal(rt.retries, 0);
    rt.close();
    assert.equal(view.watching, 0, 'close unsubscribes');
  });

  it('gives a portless node the scheme default, and keeps weights and priorities', () => {
    const view = new FakeView();
    const rt = new UpstreamRuntime(discovered({ scheme: 'https' }), { logger: quiet, discovery: view });
    view.set([{ host: 'a', weight: 3, priority: -10 }, { host: 'b', weight: 1, priority: -20 }, { host: '::1', port: 9, weight: 1, priority: -20 }]);
    assert.deepEqual(rt.nodes.map((n) => [n.id, n.weight, n.priority]), [['a:443', 3, -10], ['b:443', 1, -20], ['[::1]:9', 1, -20]]);
    assert.deepEqual(ids(rt), ['a:443'], 'the highest priority serves first');
    rt.close();
  });

  it('stays without nodes when its registry type is not enabled', () => {
    const view = new FakeView();
    const rt = new UpstreamRuntime(discovered({ discovery_type: 'consul' }), { logger: quiet, discovery: view });
    assert.deepEqual(view.subscribed, []);
    assert.equal(rt.pick({}), undefined);
  });

  it('keeps the health of nodes that stay, and a node that comes back starts healthy', () => {
    const view = new FakeView();
    const rt = new UpstreamRuntime(discovered({ checks: { passive: { unhealthy: { http_failures: 1 } } } }),
      { logger: quiet, discovery: view, passiveCooldownMs: 3_600_000 });
    view.set([{ host: 'a', weight: 1 }, { host: 'b', weight: 1 }]);
    const b = rt.nodes[1]!;
    rt.report(b, { status: 500 });
    assert.deepEqual(rt.healthyNodeIds(), ['a:80']);
    view.set([{ host: 'a', weight: 1 }, { host: 'b', weight: 1 }, { host: 'c', weight: 1 }]);
    assert.deepEqual(rt.healthyNodeIds(), ['a:80', 'c:80'], 'b stays unhealthy, c starts healthy');
    view.set([{ host: 'a', weight: 1 }]);
    view.set([{ host: 'a', weight: 1 }, { host: 'b', weight: 1 }]);
    assert.deepEqual(rt.healthyNodeIds(), ['a:80', 'b:80'], 'b left and came back: no stale state');
    assert.deepEqual(ids(rt), ['a:80', 'b:80']);
    rt.close();
  });

  it('probes nodes as they are discovered and stops probing those that left', async () => {
    const probed = new Map<string, number>();
    const probe = async (t: ProbeTarget): Promise<ProbeOutcome> => {
      probed.set(t.address, (probed.get(t.address) ?? 0) + 1);
      return { status: t.address === 'bad' ? 503 : 200 };
    };
    const view = new FakeView();
    const rt = new UpstreamRuntime(discovered({
      checks: { active: { healthy: { interval: 0.01, successes: 1 }, unhealthy: { interval: 0.01, http_failures: 1 } } },
    }), { logger: quiet, discovery: view, probe });
    try {
      view.set([{ host: 'good', weight: 1 }, { host: 'bad', weight: 1 }]);
      await until(() => rt.healthyNodeIds().length === 1, 'the bad node is taken out');
      assert.deepEqual(ids(rt), ['good:80']);
      view.set([{ host: 'good', weight: 1 }]);
      const badProbes = probed.get('bad')!;
      await sleep(60);
      assert.equal(probed.get('bad'), badProbes, 'a node that left is no longer probed');
      assert.ok(probed.get('good')! > 2);
    } finally {
      rt.close();
    }
  });

  it('forgets the latency ewma learnt for a node that left', () => {
    const view = new FakeView();
    const rt = new UpstreamRuntime(discovered({ type: 'ewma' }), { logger: quiet, discovery: view });
    view.set([{ host: 'slow', weight: 1 }, { host: 'fast', weight: 1 }]);
    const [slow, fast] = rt.nodes;
    rt.release(slow!, 5_000, false);
    rt.release(fast!, 1, false);
    assert.equal(rt.pick({})!.id, 'fast:80');
    view.set([{ host: 'fast', weight: 1 }]);
    view.set([{ host: 'slow', weight: 1 }, { host: 'fast', weight: 1 }]);
    rt.release(rt.nodes[1]!, 50, false);
    assert.equal(rt.pick({})!.id, 'slow:80', 'slow came back without its old latency');
    rt.close();
  });
});
