// The behaviour every balancer shares. Each balancer's own *.test.ts calls
// runBalancerContract; balancer-specific behaviour is tested beside the balancer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Balancer, BalancerFactory, BalancerNode } from '../../src/contracts/balancer.js';

export function node(id: string, weight = 1, priority = 0): BalancerNode {
  const sep = id.lastIndexOf(':');
  return { id, host: id.slice(0, sep), port: Number(id.slice(sep + 1)), weight, priority };
}

const A = node('10.0.0.1:80');
const B = node('10.0.0.2:80');
const C = node('10.0.0.3:80');
const ZERO = node('10.0.0.9:80', 0);

/**
 * Picks `rounds` times with varied hash keys, holding each attempt open (acquire) and
 * releasing them in batches with a fixed latency, the way concurrent traffic would.
 */
function drive(balancer: Balancer, rounds: number, tried?: ReadonlySet<string>): Map<string, number> {
  const counts = new Map<string, number>();
  let held: BalancerNode[] = [];
  for (let i = 0; i < rounds; i++) {
    const picked = balancer.pick({ hashKey: `key-${i}`, tried });
    assert.ok(picked, 'a balancer with pickable nodes returns one');
    counts.set(picked.id, (counts.get(picked.id) ?? 0) + 1);
    balancer.acquire?.(picked);
    held.push(picked);
    if (held.length === 8) {
      for (const n of held) balancer.release?.(n, 10, false);
      held = [];
    }
  }
  for (const n of held) balancer.release?.(n, 10, false);
  return counts;
}

export function runBalancerContract(name: string, factory: BalancerFactory): void {
  describe(`${name} balancer contract`, () => {
    it('returns undefined when it has no nodes', () => {
      assert.equal(factory([]).pick({}), undefined);
      assert.equal(factory([]).pick({ hashKey: 'x', tried: new Set(['a']) }), undefined);
    });

    it('returns undefined when every node has weight 0', () => {
      assert.equal(factory([ZERO, node('10.0.0.8:80', 0)]).pick({ hashKey: 'k' }), undefined);
    });

    it('always returns the only node it has', () => {
      const balancer = factory([A]);
      for (let i = 0; i < 20; i++) assert.equal(balancer.pick({ hashKey: `k${i}` })?.id, A.id);
    });

    it('picks only the nodes it was given and never a weight-0 node', () => {
      const given = new Set([A.id, B.id, C.id]);
      const counts = drive(factory([A, ZERO, B, C]), 600);
      for (const id of counts.keys()) assert.ok(given.has(id), `${id} was not a pickable node`);
      assert.equal(counts.get(ZERO.id), undefined);
    });

    it('distributes requests across all of its nodes', () => {
      const counts = drive(factory([A, B, C]), 900);
      for (const n of [A, B, C]) {
        assert.ok((counts.get(n.id) ?? 0) >= 90, `${n.id} got ${counts.get(n.id) ?? 0} of 900 picks`);
      }
    });

    it('skips nodes already tried while untried ones remain', () => {
      const balancer = factory([A, B, C]);
      const counts = drive(balancer, 200, new Set([A.id, B.id]));
      assert.deepEqual([...counts.keys()], [C.id]);
      const two = drive(balancer, 200, new Set([A.id]));
      assert.equal(two.get(A.id), undefined);
      assert.ok((two.get(B.id) ?? 0) > 0 && (two.get(C.id) ?? 0) > 0, 'both untried nodes are used');
    });

    it('reuses nodes once every node has been tried', () => {
      const balancer = factory([A, B, ZERO]);
      const counts = drive(balancer, 100, new Set([A.id, B.id]));
      assert.equal(counts.get(ZERO.id), undefined);
      assert.equal((counts.get(A.id) ?? 0) + (counts.get(B.id) ?? 0), 100);
    });

    it('ignores tried ids that are not among its nodes', () => {
      const counts = drive(factory([A, B]), 100, new Set(['192.0.2.1:1']));
      assert.equal((counts.get(A.id) ?? 0) + (counts.get(B.id) ?? 0), 100);
    });
  });
}
