import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decisionOf, queryObject, MAX_QUERY_ARGS } from './opa.js';

test('queryObject: repeats become arrays, a bare key true, percent-decoding tolerant', () => {
  assert.deepEqual(queryObject('/p'), {});
  assert.deepEqual(queryObject('/p?k=v&m=a&m=b&m=c&flag&x=%41+b&bad=%zz'), { k: 'v', m: ['a', 'b', 'c'], flag: true, x: 'A b', bad: '%zz' });
});

test('queryObject keeps at most MAX_QUERY_ARGS keys', () => {
  const uri = '/p?' + Array.from({ length: MAX_QUERY_ARGS * 3 }, (_, i) => `k${i}=1`).join('&');
  assert.equal(Object.keys(queryObject(uri)).length, MAX_QUERY_ARGS);
});

test('decisionOf: booleans, objects, and replies without a decision', () => {
  assert.deepEqual(decisionOf({ result: true }), { allow: true });
  assert.deepEqual(decisionOf({ result: false }), { allow: false });
  assert.equal(decisionOf({ result: { allow: 'yes' } })!.allow, false, 'only a true allow lets through');
  assert.equal(decisionOf({ result: { allow: true, status_code: 401 } })!.status_code, 401);
  for (const reply of [{}, null, 'x', { result: 'x' }, { result: [true] }, { result: null }]) assert.equal(decisionOf(reply), undefined);
});
