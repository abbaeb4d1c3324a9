import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { node, runBalancerContract } from '../../../../test/contract/balancer.contract.js';
import { createChashBalancer } from './chash.js';
import { hash32 } from './hash.js';

runBalancerContract('chash', (nodes) => createChashBalancer(nodes));

const five = [1, 2, 3, 4, 5].map((i) => node(`10.0.0.${i}:8080`));
const keys = Array.from({ length: 3000 }, (_, i) => `user-${i}`);

function assignment(nodes: ReturnType<typeof node>[]): Map<string, string> {
  const balancer = createChashBalancer(nodes);
  return new Map(keys.map((k) => [k, balancer.pick({ hashKey: k })!.id]));
}

describe('chash balancer', () => {
  it('sends the same key to the same node every time', () => {
    const balancer = createChashBalancer(five);
    for (const k of keys.slice(0, 200)) {
      const first = balancer.pick({ hashKey: k })!.id;
      for (let i = 0; i < 3; i++) assert.equal(balancer.pick({ hashKey: k })!.id, first);
    }
  });

  it('builds the same ring whatever order the nodes are listed in', () => {
    assert.deepEqual(assignment(five), assignment([...five].reverse()));
  });

  it('moves only the removed node\'s keys when a node goes away', () => {
    const before = assignment(five);
    const removed = five[2]!.id;
    const after = assignment(five.filter((n) => n.id !== removed));
    let moved = 0;
    for (const k of keys) {
      if (before.get(k) === removed) {
        assert.notEqual(after.get(k), removed);
        moved++;
      } else {
        assert.equal(after.get(k), before.get(k), `key ${k} moved although its node stayed`);
      }
    }
    assert.ok(moved > 0);
  });

  it('moves keys only onto a node that is added', () => {
    const before = assignment(five);
    const added = node('10.0.0.6:8080');
    const after = assignment([...five, added]);
    let gained = 0;
    for (const k of keys) {
      if (after.get(k) !== before.get(k)) {
        assert.equal(after.get(k), added.id);
        gained++;
      }
    }
    assert.ok(gained > keys.length / 12 && gained < keys.length / 3, `new node took ${gained} keys`);
  });

  it('spreads keys roughly in proportion to weight', () => {
    const light = node('10.0.0.1:80', 1);
    const heavy = node('10.0.0.2:80', 3);
    const balancer = createChashBalancer([light, heavy]);
    let heavyCount = 0;
    for (const k of keys) if (balancer.pick({ hashKey: k })!.id === heavy.id) heavyCount++;
    const ratio = heavyCount / (keys.length - heavyCount);
    assert.ok(ratio > 2 && ratio < 4.5, `heavy/light ratio ${ratio}`);
  });

  it('treats a missing hash key as a stable key of its own', () => {
    const balancer = createChashBalancer(five);
    const first = balancer.pick({})!.id;
    assert.equal(balancer.pick({ hashKey: '' })!.id, first);
    assert.equal(createChashBalancer([...five].reverse()).pick({})!.id, first);
  });

  it('retries a key on the next node along the ring, the same one each time', () => {
    const balancer = createChashBalancer(five);
    for (const k of keys.slice(0, 50)) {
      const first = balancer.pick({ hashKey: k })!.id;
      const second = balancer.pick({ hashKey: k, tried: new Set([first]) })!.id;
      assert.notEqual(second, first);
      assert.equal(balancer.pick({ hashKey: k, tried: new Set([first]) })!.id, second);
    }
  });

  it('hashes with a 32-bit function that spreads near-identical strings', () => {
    assert.equal(hash32('abc'), hash32('abc'));
    const values = new Set(Array.from({ length: 1000 }, (_, i) => hash32(`node#${i}`) >>> 24));
    assert.ok(values.size > 200, `top bytes took only ${values.size} distinct values`);
    for (let i = 0; i < 100; i++) {
      const h = hash32(`k${i}`);
      assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff);
    }
  });
});
