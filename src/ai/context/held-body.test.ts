import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeldBody } from './held-body.js';

test('HeldBody holds up to its bound, then releases what it held once', () => {
  const whole = new HeldBody(10);
  assert.deepEqual(whole.push(Buffer.from('abc'), false), { kind: 'held' });
  assert.deepEqual(whole.push(Buffer.from('def'), true), { kind: 'complete', body: Buffer.from('abcdef') });
  assert.equal(whole.holding, false);
  const big = new HeldBody(4);
  assert.deepEqual(big.push(Buffer.from('abc'), false), { kind: 'held' });
  assert.deepEqual(big.push(Buffer.from('de'), false), { kind: 'overflow', body: Buffer.from('abcde') });
  assert.equal(big.holding, false);
});
