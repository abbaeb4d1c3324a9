import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { node, runBalancerContract } from '../../../../test/contract/balancer.contract.js';
import { createRoundRobinBalancer } from './roundrobin.js';

runBalancerContract('roundrobin', (nodes) => createRoundRobinBalancer(nodes));

describe('roundrobin balancer', () => {
  const a = node('10.0.0.1:80', 5);
  const b = node('10.0.0.2:80', 1);
  const c = node('10.0.0.3:80', 1);

  it('interleaves picks smoothly instead of sending a burst to the heaviest node', () => {
    const balancer = createRoundRobinBalancer([a, b, c], { random: () => 0 });
    const seq = Array.from({ length: 7 }, () => balancer.pick({})!.id.slice(-4, -3));
    assert.deepEqual(seq.join(''), '1121311');
  });

  it('gives every window of sum(weights) picks exactly each node weight picks, from any starting point', () => {
    for (const start of [0, 0.3, 0.99]) {
      const balancer = createRoundRobinBalancer([a, b, c, node('10.0.0.4:80', 3)], { random: () => start });
      const seq = Array.from({ length: 40 }, () => balancer.pick({})!.id);
      for (let from = 0; from + 10 <= seq.length; from++) {
        const counts = new Map<string, number>();
        for (const id of seq.slice(from, from + 10)) counts.set(id, (counts.get(id) ?? 0) + 1);
        assert.deepEqual(
          [counts.get(a.id), counts.get(b.id), counts.get(c.id), counts.get('10.0.0.4:80')],
          [5, 1, 1, 3],
        );
      }
    }
  });

  it('never picks a weight-0 node even when it is the only untried one', () => {
    const zero = node('10.0.0.5:80', 0);
    const balancer = createRoundRobinBalancer([a, zero]);
    for (let i = 0; i < 10; i++) assert.equal(balancer.pick({ tried: new Set([a.id]) })?.id, a.id);
  });

  it('keeps the proportions of the remaining nodes while some are skipped as tried', () => {
    const d = node('10.0.0.4:80', 2);
    const balancer = createRoundRobinBalancer([a, b, d], { random: () => 0 });
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const id = balancer.pick({ tried: new Set([a.id]) })!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    assert.deepEqual([counts.get(a.id), counts.get(b.id), counts.get(d.id)], [undefined, 10, 20]);
  });
});
