import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Upstream } from '../../contracts/resources.js';
import type { ProbeOutcome, ProbeTarget } from './health-probe.js';
import { nodeId, parseNodes, splitAddress, UpstreamRuntime, upstreamKey } from './upstream-runtime.js';

const quiet = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, max = 300): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (cond()) return;
    await sleep(10);
  }
  assert.fail(`timed out waiting until ${what}`);
}

function runtime(conf: Upstream, opts: ConstructorParameters<typeof UpstreamRuntime>[1] = {}): UpstreamRuntime {
  return new UpstreamRuntime(conf, { logger: quiet, ...opts });
}

function countPicks(rt: UpstreamRuntime, n: number, tried?: Set<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = rt.pick({ hashKey: `k${i}`, tried })?.id ?? 'none';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('upstream nodes', () => {
  it('splits host and port, including bracketed IPv6 and missing ports', () => {
    assert.deepEqual(splitAddress('10.0.0.1:8080'), { host: '10.0.0.1', port: 8080 });
    assert.deepEqual(splitAddress('example.com'), { host: 'example.com', port: undefined });
    assert.deepEqual(splitAddress('[::1]:8080'), { host: '::1', port: 8080 });
    assert.deepEqual(splitAddress('[::1]'), { host: '::1', port: undefined });
    assert.deepEqual(splitAddress('::1'), { host: '::1', port: undefined });
  });

  it('writes node ids as host:port with IPv6 hosts in brackets', () => {
    assert.equal(nodeId('10.0.0.1', 80), '10.0.0.1:80');
    assert.equal(nodeId('::1', 8080), '[::1]:8080');
  });

  it('reads the map form, giving portless nodes the scheme default port', () => {
    const nodes = parseNodes({ scheme: 'https', nodes: { '[::1]:8080': 2, 'b.example': 1, '10.0.0.1:81': 0 } });
    assert.deepEqual(nodes, [
      { id: '[::1]:8080', host: '::1', port: 8080, weight: 2, priority: 0 },
      { id: 'b.example:443', host: 'b.example', port: 443, weight: 1, priority: 0 },
      { id: '10.0.0.1:81', host: '10.0.0.1', port: 81, weight: 0, priority: 0 },
    ]);
  });

  it('reads the array form with priorities and drops duplicate addresses', () => {
    const nodes = parseNodes({
      nodes: [
        { host: '10.0.0.1', port: 80, weight: 1, priority: 5 },
        { host: '[::2]', port: 80, weight: 3 },
        { host: '10.0.0.1', port: 80, weight: 9 },
      ],
    });
    assert.deepEqual(nodes, [
      { id: '10.0.0.1:80', host: '10.0.0.1', port: 80, weight: 1, priority: 5 },
      { id: '[::2]:80', host: '::2', port: 80, weight: 3, priority: 0 },
    ]);
  });
});

describe('upstreamKey', () => {
  const base: Upstream = { type: 'roundrobin', nodes: { '10.0.0.1:80': 1, '10.0.0.2:80': 2 }, retries: 1 };

  it('is the same whatever the key order or node form', () => {
    const reordered: Upstream = { retries: 1, nodes: [{ host: '10.0.0.1', port: 80, weight: 1 }, { host: '10.0.0.2', port: 80, weight: 2, priority: 0 }], type: 'roundrobin' };
    assert.equal(upstreamKey(base), upstreamKey(reordered));
  });

  it('ignores timestamps, description and labels', () => {
    assert.equal(upstreamKey(base), upstreamKey({ ...base, update_time: 5, create_time: 1, desc: 'x', labels: { a: 'b' } }));
  });

  it('changes when anything that affects traffic changes', () => {
    const key = upstreamKey(base);
    assert.notEqual(key, upstreamKey({ ...base, nodes: { '10.0.0.1:80': 1 } }));
    assert.notEqual(key, upstreamKey({ ...base, type: 'chash' }));
    assert.notEqual(key, upstreamKey({ ...base, checks: { passive: {} } }));
    assert.notEqual(key, upstreamKey({ ...base, timeout: { connect: 1 } }));
  });
});

describe('UpstreamRuntime settings', () => {
  it('defaults retries to the number of nodes minus one, as APISIX does', () => {
    assert.equal(runtime({ nodes: { 'a:1': 1, 'b:1': 1, 'c:1': 1 } }).retries, 2);
    assert.equal(runtime({ nodes: { 'a:1': 1 } }).retries, 0);
    assert.equal(runtime({ nodes: {} }).retries, 0);
    assert.equal(runtime({ nodes: { 'a:1': 1, 'b:1': 1 }, retries: 0 }).retries, 0);
  });

  it('converts retry_timeout and timeouts to milliseconds with 60 s defaults', () => {
    const rt = runtime({ nodes: { 'a:1': 1 }, retry_timeout: 2.5, timeout: { connect: 0.5, read: 3 } });
    assert.equal(rt.retryTimeoutMs, 2500);
    assert.deepEqual(rt.timeouts, { connectMs: 500, sendMs: 60_000, readMs: 3000 });
    assert.equal(runtime({ nodes: { 'a:1': 1 } }).retryTimeoutMs, 0);
  });

  it('refuses an unknown balancer type', () => {
    assert.throws(() => runtime({ type: 'random' as Upstream['type'], nodes: { 'a:1': 1 } }), /unknown balancer type/);
  });
});

describe('UpstreamRuntime picking', () => {
  it('balances by weight over its nodes and never picks weight 0', () => {
    const rt = runtime({ nodes: { 'a:1': 3, 'b:1': 1, 'c:1': 0 } });
    const counts = countPicks(rt, 400);
    assert.deepEqual([counts.get('a:1'), counts.get('b:1'), counts.get('c:1')], [300, 100, undefined]);
  });

  it('returns undefined when it has no nodes', () => {
    assert.equal(runtime({ nodes: {} }).pick({}), undefined);
  });

  it('uses the chash balancer with the given hash key', () => {
    const rt = runtime({ type: 'chash', key: 'uri', nodes: { 'a:1': 1, 'b:1': 1, 'c:1': 1 } });
    const first = rt.pick({ hashKey: '/x' })!.id;
    for (let i = 0; i < 10; i++) assert.equal(rt.pick({ hashKey: '/x' })!.id, first);
  });

  const prioritized: Upstream = {
    nodes: [
      { host: 'high1', port: 80, weight: 1, priority: 10 },
      { host: 'high2', port: 80, weight: 1, priority: 10 },
      { host: 'low', port: 80, weight: 1, priority: -1 },
      { host: 'mid', port: 80, weight: 1 },
    ],
    checks: { passive: { unhealthy: { http_failures: 1 } } },
  };

  it('uses only the highest priority nodes while they are healthy and untried', () => {
    const counts = countPicks(runtime(prioritized), 100);
    assert.deepEqual([...counts.keys()].sort(), ['high1:80', 'high2:80']);
  });

  it('falls to the next priority once every higher node has been tried', () => {
    const rt = runtime(prioritized);
    assert.equal(rt.pick({ tried: new Set(['high1:80', 'high2:80']) })!.id, 'mid:80');
    assert.equal(rt.pick({ tried: new Set(['high1:80', 'high2:80', 'mid:80']) })!.id, 'low:80');
    const reuse = rt.pick({ tried: new Set(['high1:80', 'high2:80', 'mid:80', 'low:80']) })!.id;
    assert.ok(reuse.startsWith('high'), `retries reuse the highest priority, got ${reuse}`);
  });

  it('falls to a lower priority when the higher nodes are unhealthy and back when they recover', async () => {
    const rt = runtime(prioritized, { passiveCooldownMs: 30 });
    const [high1, high2] = rt.nodes;
    rt.report(high1!, { status: 500 });
    assert.deepEqual([...countPicks(rt, 20).keys()], ['high2:80']);
    rt.report(high2!, { status: 500 });
    assert.deepEqual([...countPicks(rt, 20).keys()], ['mid:80']);
    assert.deepEqual(rt.healthyNodeIds(), ['low:80', 'mid:80']);
    await until(() => rt.healthyNodeIds().length === 4, 'the cool-down brings the nodes back');
    assert.deepEqual([...countPicks(rt, 20).keys()].sort(), ['high1:80', 'high2:80']);
    rt.close();
  });

  it('tries every node once none is healthy, with a warning, as APISIX does', () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => { lines.push(l); } });
    const rt = runtime({ nodes: { 'a:1': 1, 'b:1': 1 }, checks: { passive: { unhealthy: { tcp_failures: 1 } } } },
      { passiveCooldownMs: 3_600_000, logger: log });
    for (const n of rt.nodes) rt.report(n, { error: 'connect' });
    assert.deepEqual(rt.healthyNodeIds(), []);
    assert.deepEqual([...countPicks(rt, 20).keys()].sort(), ['a:1', 'b:1']);
    assert.equal(rt.pick({ tried: new Set(['a:1']) })!.id, 'b:1');
    assert.equal(lines.filter((l) => l.includes('every upstream node is unhealthy')).length, 1);
    rt.close();
  });

  it('answers undefined when no node can take traffic (none, or all of weight 0)', () => {
    assert.equal(runtime({ nodes: {} }).pick({}), undefined);
    assert.equal(runtime({ nodes: { 'a:1': 0 } }).pick({}), undefined);
  });

  it('ignores passive reports when the upstream has no checks', () => {
    const rt = runtime({ nodes: { 'a:1': 1 } });
    for (let i = 0; i < 10; i++) rt.report(rt.nodes[0]!, { status: 500 });
    assert.deepEqual(rt.healthyNodeIds(), ['a:1']);
    assert.equal(rt.pick({})!.id, 'a:1');
  });

  it('counts in-flight attempts for least_conn, and keeps the counts across health changes', () => {
    const rt = runtime({ type: 'least_conn', nodes: { 'a:1': 1, 'b:1': 1, 'c:1': 1 }, checks: { passive: { unhealthy: { http_failures: 1 } } } }, { passiveCooldownMs: 3_600_000 });
    const [a, b, c] = rt.nodes;
    rt.acquire(a!);
    rt.acquire(b!);
    assert.equal(rt.pick({})!.id, 'c:1');
    rt.report(c!, { status: 500 }); // rebuilds the balancers
    rt.acquire(b!);
    assert.equal(rt.pick({})!.id, 'a:1');
    rt.release(a!, 5, false);
    rt.release(b!, 5, false);
    rt.release(b!, 5, false);
    rt.close();
  });

  it('learns latency for ewma through release', () => {
    const rt = runtime({ type: 'ewma', nodes: { 'fast:1': 1, 'slow:1': 1 } });
    const [fast, slow] = rt.nodes;
    rt.release(fast!, 1, false);
    rt.release(slow!, 5_000, false);
    for (let i = 0; i < 20; i++) assert.equal(rt.pick({})!.id, 'fast:1');
  });
});

describe('UpstreamRuntime active checks', () => {
  it('probes every node, takes a failing one out and stops probing on close', async () => {
    let down = true;
    const targets: ProbeTarget[] = [];
    const probe = async (t: ProbeTarget): Promise<ProbeOutcome> => {
      targets.push(t);
      return { status: t.port === 2 && down ? 503 : 200 };
    };
    const rt = runtime({
      nodes: { 'n:1': 1, 'n:2': 1 },
      pass_host: 'rewrite',
      upstream_host: 'svc.example',
      checks: { active: { healthy: { interval: 0.01, successes: 1 }, unhealthy: { interval: 0.01, http_failures: 1 } } },
    }, { probe });
    try {
      await until(() => rt.healthyNodeIds().length === 1, 'node 2 is taken out');
      assert.deepEqual([...countPicks(rt, 10).keys()], ['n:1']);
      assert.equal(targets[0]!.hostHeader, 'svc.example');
      down = false;
      await until(() => rt.healthyNodeIds().length === 2, 'node 2 is back');
    } finally {
      rt.close();
    }
    const seen = targets.length;
    await sleep(50);
    assert.ok(targets.length <= seen + 2, 'no new probes after close');
  });
});
