import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { node, runBalancerContract } from '../../../../test/contract/balancer.contract.js';
import { createEwmaBalancer, type EwmaStat } from './ewma.js';

runBalancerContract('ewma', (nodes) => createEwmaBalancer(nodes));

/** A seeded generator so the random choices are reproducible. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('ewma balancer', () => {
  const fast = node('10.0.0.1:80');
  const slow = node('10.0.0.2:80');
  const other = node('10.0.0.3:80');

  function setup(nodes = [fast, slow]) {
    let clock = 1_000;
    const stats = new Map<string, EwmaStat>();
    const balancer = createEwmaBalancer(nodes, { stats, random: lcg(7), now: () => clock });
    return { balancer, stats, advance: (ms: number) => { clock += ms; } };
  }

  it('prefers the node that answers faster', () => {
    const { balancer, advance } = setup();
    balancer.release!(fast, 10, false);
    balancer.release!(slow, 200, false);
    advance(100);
    for (let i = 0; i < 50; i++) assert.equal(balancer.pick({})!.id, fast.id);
  });

  it('sends most traffic to the fast node among three', () => {
    const { balancer, advance } = setup([fast, slow, other]);
    balancer.release!(fast, 5, false);
    balancer.release!(slow, 300, false);
    balancer.release!(other, 100, false);
    let fastCount = 0;
    for (let i = 0; i < 300; i++) {
      advance(1);
      if (balancer.pick({})!.id === fast.id) fastCount++;
    }
    assert.ok(fastCount >= 150, `fast node got ${fastCount} of 300`);
  });

  it('explores a node with no samples before a measured one', () => {
    const { balancer } = setup();
    balancer.release!(fast, 10, false);
    assert.equal(balancer.pick({})!.id, slow.id);
  });

  it('penalises a failed attempt even when it failed quickly', () => {
    const { balancer, advance } = setup();
    balancer.release!(fast, 10, false);
    balancer.release!(slow, 200, false);
    advance(5);
    balancer.release!(fast, 2, true);
    advance(5);
    assert.equal(balancer.pick({})!.id, slow.id);
  });

  it('learns nothing from an attempt the client ended (no latency given)', () => {
    const { balancer, stats, advance } = setup();
    balancer.release!(fast, 10, false);
    balancer.release!(slow, 200, false);
    const before = { ...stats.get(fast.id)! };
    advance(5);
    balancer.release!(fast, undefined, false);
    balancer.release!(fast, undefined, true);
    assert.deepEqual(stats.get(fast.id), before);
    assert.equal(balancer.pick({})!.id, fast.id);
  });

  it('blends samples by elapsed time with a 10 s decay', () => {
    const { balancer, stats, advance } = setup();
    balancer.release!(fast, 100, false);
    advance(10_000);
    balancer.release!(fast, 0, false);
    assert.ok(Math.abs(stats.get(fast.id)!.value - 100 / Math.E) < 1e-9);
  });

  it('lets a slow node be tried again after it has been left alone long enough', () => {
    const { balancer, advance } = setup();
    balancer.release!(slow, 500, false);
    advance(60_000);
    balancer.release!(fast, 20, false);
    advance(1);
    assert.equal(balancer.pick({})!.id, slow.id);
  });
});
