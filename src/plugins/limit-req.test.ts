import { test, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import lr from './limit-req.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';
import { setCounterStore } from '../counters/index.js';
import { limitTiming } from './common/limits.js';
import { CounterTable, LocalCounterStore } from '../counters/counter-table.js';

let now = 0;
let slept: number[] = [];
const realSleep = limitTiming.sleep;
beforeEach(() => {
  now = 0;
  slept = [];
  setCounterStore(new LocalCounterStore(new CounterTable(() => now)));
  // a delayed request "waits" on the injected clock
  limitTiming.sleep = async (ms) => { slept.push(ms); now += ms; };
});
after(() => {
  setCounterStore(undefined);
  limitTiming.sleep = realSleep;
});

const access = (p: unknown, remoteAddr = '127.0.0.1') => lr.access!(p as never, createTestContext({ routeId: 'r1', remoteAddr }));

test('schema: rate, burst and key required; APISIX defaults; the policies are local, redis and redis-cluster', () => {
  assert.equal(schemaError(lr.schema, { rate: 1, burst: 0 }), 'property "key" is required');
  assert.match(schemaError(lr.schema, { rate: 0, burst: 0, key: 'remote_addr' })!, /property "rate" validation failed/);
  assert.match(schemaError(lr.schema, { rate: 1, burst: -1, key: 'remote_addr' })!, /property "burst" validation failed/);
  assert.match(schemaError(lr.schema, { rate: 1, burst: 1, key: 'remote_addr', policy: 'redis-sentinel' })!, /property "policy" validation failed/);
  const p = prepareWith(lr, { rate: 0.5, burst: 1.5, key: 'remote_addr' });
  assert.deepEqual([p.rate, p.burst, p.rejectedCode, p.nodelay, p.degrade], [0.5, 1.5, 503, false, false]);
});

test('within rate passes at once; within burst waits to conform; beyond burst is rejected', async () => {
  const p = prepareWith(lr, { rate: 2, burst: 2, key: 'remote_addr' });
  assert.equal(await access(p), undefined); // excess 0
  assert.deepEqual(slept, []);
  // each call "sleeps" on the injected clock, so the next one sees the bucket drained by that much
  assert.equal(await access(p), undefined); // excess 1 → 500 ms
  assert.deepEqual(slept, [500]);
  // 500 ms later: 1 - 1 + 1 = 1 → waits 500 ms again
  assert.equal(await access(p), undefined);
  assert.deepEqual(slept, [500, 500]);
  // without waiting in between: pile up
  limitTiming.sleep = async (ms) => { slept.push(ms); };
  assert.equal(await access(p), undefined); // excess 1 → 500 (clock not moved)
  assert.equal(await access(p), undefined); // excess 2 → 1000
  assert.deepEqual(slept.slice(2), [500, 1000]);
  const r = await access(p); // excess 3 > burst 2
  assert.equal(r?.status, 503);
  assert.match(String(r?.body), /503 Service Temporarily Unavailable/);
  // other keys are not affected
  assert.equal(await access(p, '10.0.0.1'), undefined);
});

test('nodelay: requests within burst pass at once but still fill the bucket', async () => {
  const p = prepareWith(lr, { rate: 1, burst: 1, key: 'remote_addr', nodelay: true, rejected_code: 429, rejected_msg: 'too fast' });
  assert.equal(await access(p), undefined);
  assert.equal(await access(p), undefined);
  assert.deepEqual(slept, []);
  assert.deepEqual(await access(p), { status: 429, body: { error_msg: 'too fast' } });
  now += 1000;
  assert.equal(await access(p), undefined);
});

test('a failing store: 500 unless allow_degradation', async () => {
  setCounterStore({
    incr: () => Promise.reject(new Error('down')), take: () => Promise.reject(new Error('down')),
    acquire: () => Promise.reject(new Error('down')), release: () => undefined,
  });
  // APISIX: a bare 500 (nginx's page), "failed to limit req" only in the log
  const failed = await access(prepareWith(lr, { rate: 1, burst: 0, key: 'remote_addr' }));
  assert.equal(failed?.status, 500);
  assert.match(String(failed?.body), /500 Internal Server Error/);
  assert.equal(await access(prepareWith(lr, { rate: 1, burst: 0, key: 'remote_addr', allow_degradation: true })), undefined);
});

test('key_type var_combination: the rendered variables are the key; none set → the client address', async () => {
  assert.match(schemaError(lr.schema, { rate: 1, burst: 0, key: 'everyone', key_type: 'constant' })!, /property "key_type" validation failed/);
  const p = prepareWith(lr, { rate: 1, burst: 0, key_type: 'var_combination', key: '$http_x_user $arg_tier', nodelay: true });
  const as = (headers: Record<string, string>, remoteAddr = '127.0.0.1') =>
    lr.access!(p as never, createTestContext({ routeId: 'r1', remoteAddr, headers }));
  assert.equal(await as({ 'x-user': 'a' }), undefined);
  assert.equal(await as({ 'x-user': 'b' }), undefined, 'another combination has its own bucket');
  assert.equal((await as({ 'x-user': 'a' }))?.status, 503);
  assert.equal(await as({}, '10.0.0.7'), undefined);
  assert.equal((await as({}, '10.0.0.7'))?.status, 503, 'no variable set: keyed by the client address');
});
