import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { node, runBalancerContract } from '../../../../test/contract/balancer.contract.js';
import { createLeastConnBalancer } from './least-conn.js';

runBalancerContract('least_conn', (nodes) => createLeastConnBalancer(nodes));

describe('least_conn balancer', () => {
  const a = node('10.0.0.1:80');
  const b = node('10.0.0.2:80');
  const c = node('10.0.0.3:80');

  it('prefers the idle node over busy ones', () => {
    const balancer = createLeastConnBalancer([a, b, c]);
    balancer.acquire!(a);
    balancer.acquire!(a);
    balancer.acquire!(b);
    for (let i = 0; i < 5; i++) assert.equal(balancer.pick({})!.id, c.id);
  });

  it('goes back to a node once its attempts are released', () => {
    const balancer = createLeastConnBalancer([a, b]);
    balancer.acquire!(a);
    assert.equal(balancer.pick({})!.id, b.id);
    balancer.acquire!(b);
    balancer.acquire!(b);
    balancer.release!(a, 5, false);
    assert.equal(balancer.pick({})!.id, a.id);
  });

  it('weighs active attempts against node weight', () => {
    const big = node('10.0.0.4:80', 4);
    const balancer = createLeastConnBalancer([a, big]);
    const counts = new Map<string, number>();
    for (let i = 0; i < 50; i++) {
      const picked = balancer.pick({})!;
      balancer.acquire!(picked);
      counts.set(picked.id, (counts.get(picked.id) ?? 0) + 1);
    }
    assert.deepEqual([counts.get(a.id), counts.get(big.id)], [10, 40]);
  });

  it('takes turns among equally idle nodes', () => {
    const balancer = createLeastConnBalancer([a, b, c]);
    const seen = new Set(Array.from({ length: 3 }, () => balancer.pick({})!.id));
    assert.equal(seen.size, 3);
  });

  it('keeps counts in a shared map across rebuilds and never counts below zero', () => {
    const active = new Map<string, number>();
    const first = createLeastConnBalancer([a, b], { active });
    first.acquire!(a);
    const rebuilt = createLeastConnBalancer([a, b], { active });
    assert.equal(rebuilt.pick({})!.id, b.id);
    rebuilt.release!(a, 1, false);
    rebuilt.release!(a, 1, false);
    assert.equal(active.has(a.id), false);
  });
});
