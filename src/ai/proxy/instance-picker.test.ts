import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InstancePicker } from './instance-picker.js';

const inst = (name: string, weight: number, priority = 0) => ({ name, weight, priority });

test('smooth weighted round robin inside the highest priority group; weight 0 never picked', () => {
  const a = inst('a', 3);
  const b = inst('b', 1);
  const low = inst('low', 5, -1);
  const picker = new InstancePicker([a, b, inst('zero', 0), low]);
  const names = Array.from({ length: 8 }, () => picker.next()!.name);
  assert.deepEqual(names, ['a', 'a', 'b', 'a', 'a', 'a', 'b', 'a']);
});

test('tried instances are skipped, then lower priorities; nothing left is undefined', () => {
  const a = inst('a', 1, 2);
  const b = inst('b', 1, 2);
  const c = inst('c', 1, 1);
  const picker = new InstancePicker([a, b, c]);
  assert.equal(picker.next(new Set([a]))!.name, 'b');
  assert.equal(picker.next(new Set([a, b]))!.name, 'c');
  assert.equal(picker.next(new Set([a, b, c])), undefined);
  assert.equal(new InstancePicker([inst('z', 0)]).next(), undefined);
});

test('byHash: one key, one instance; the weights share the keys; tried ones are skipped', () => {
  const a = inst('a', 3);
  const b = inst('b', 1);
  const picker = new InstancePicker([a, b]);
  const counts = { a: 0, b: 0 };
  for (let i = 0; i < 400; i++) {
    const key = `user-${i}`;
    const first = picker.byHash(key)!;
    assert.equal(picker.byHash(key), first);
    counts[first.name as 'a' | 'b']++;
    assert.notEqual(picker.byHash(key, new Set([first])), first);
  }
  assert.ok(counts.a > 240 && counts.b > 60, JSON.stringify(counts));
});
