import { test } from 'node:test';
import assert from 'node:assert/strict';
import { samplerOf, traceIdRatio } from './sampler.js';
import { newTraceId } from './ids.js';

test('always_on and always_off ignore the caller', () => {
  assert.equal(samplerOf({ name: 'always_on' })('00'.repeat(16), false), true);
  assert.equal(samplerOf({ name: 'always_off' })('ff'.repeat(16), true), false);
});

test('trace_id_ratio decides by the trace id\'s first 32 bits, the same way every time', () => {
  const half = traceIdRatio(0.5);
  assert.equal(half('7fffffff' + '0'.repeat(24), undefined), true);
  assert.equal(half('80000000' + '0'.repeat(24), undefined), false);
  assert.equal(traceIdRatio(1)('ffffffff' + '0'.repeat(24), undefined), true);
  assert.equal(traceIdRatio(0)('00000001' + '0'.repeat(24), undefined), false);
  let n = 0;
  for (let i = 0; i < 4000; i++) if (traceIdRatio(0.25)(newTraceId(), undefined)) n++;
  assert.ok(n > 800 && n < 1200, `${n} of 4000 sampled at 0.25`);
});

test('parent_base follows the caller\'s flag, and asks its root sampler for a trace it starts', () => {
  const s = samplerOf({ name: 'parent_base', options: { root: { name: 'always_on' } } });
  assert.equal(s('ab'.repeat(16), false), false);
  assert.equal(s('ab'.repeat(16), true), true);
  assert.equal(s('ab'.repeat(16), undefined), true);
  const ratio = samplerOf({ name: 'parent_base', options: { root: { name: 'trace_id_ratio', options: { fraction: 0.5 } } } });
  assert.equal(ratio('10000000' + '0'.repeat(24), undefined), true);
  assert.equal(ratio('f0000000' + '0'.repeat(24), undefined), false);
  assert.equal(ratio('f0000000' + '0'.repeat(24), true), true);
  // no root: always_off, as APISIX's default
  assert.equal(samplerOf({ name: 'parent_base' })('ab'.repeat(16), undefined), false);
});
