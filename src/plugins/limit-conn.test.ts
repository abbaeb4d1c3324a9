import { test, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import lcn from './limit-conn.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';
import { setCounterStore } from '../counters/index.js';
import { limitTiming } from './common/limits.js';
import { CounterTable, LocalCounterStore } from '../counters/counter-table.js';

let table: CounterTable;
let slept: number[] = [];
const realSleep = limitTiming.sleep;
beforeEach(() => {
  table = new CounterTable();
  slept = [];
  setCounterStore(new LocalCounterStore(table));
  limitTiming.sleep = async (ms) => { slept.push(ms); };
});
after(() => {
  setCounterStore(undefined);
  limitTiming.sleep = realSleep;
});

const ctxFor = (remoteAddr = '127.0.0.1') => createTestContext({ routeId: 'r1', remoteAddr });

test('schema: APISIX required fields and defaults; the policies are local, redis and redis-cluster', () => {
  assert.equal(schemaError(lcn.schema, { conn: 1, burst: 0, key: 'remote_addr' }), 'property "default_conn_delay" is required');
  assert.match(schemaError(lcn.schema, { conn: 0, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' })!, /property "conn" validation failed/);
  assert.match(schemaError(lcn.schema, { conn: 1, burst: 0, default_conn_delay: 0, key: 'remote_addr' })!, /property "default_conn_delay" validation failed/);
  assert.match(schemaError(lcn.schema, { conn: 1, burst: 0, default_conn_delay: 1, key: 'remote_addr', policy: 'redis-sentinel' })!, /property "policy" validation failed/);
  const p = prepareWith(lcn, { conn: 2, burst: 1, default_conn_delay: 0.1, key: 'remote_addr' });
  assert.deepEqual([p.conn, p.burst, p.unitDelay, p.adaptive, p.rejectedCode], [2, 1, 0.1, true, 503]);
});

test('conn run at once, burst more are delayed, beyond is rejected; log gives the slots back', async () => {
  const p = prepareWith(lcn, { conn: 2, burst: 1, default_conn_delay: 0.5, only_use_default_delay: true, key: 'remote_addr' });
  const reqs = [ctxFor(), ctxFor(), ctxFor(), ctxFor()];
  assert.equal(await lcn.access!(p, reqs[0]!), undefined);
  assert.equal(await lcn.access!(p, reqs[1]!), undefined);
  assert.deepEqual(slept, []);
  assert.equal(await lcn.access!(p, reqs[2]!), undefined); // the 3rd: delayed by 0.5 s × floor(2 / 2)
  assert.deepEqual(slept, [500]);
  const r = await lcn.access!(p, reqs[3]!);
  assert.equal(r?.status, 503);
  assert.equal(table.size, 1); // one key, three slots
  // another key has its own slots
  const other = ctxFor('10.0.0.1');
  assert.equal(await lcn.access!(p, other), undefined);
  assert.equal(table.size, 2);
  // the rejected request holds nothing; log of the others gives theirs back
  lcn.log!(p, reqs[3]!);
  for (const c of [...reqs.slice(0, 3), other]) lcn.log!(p, c);
  lcn.log!(p, reqs[0]!); // a second log call releases nothing more
  assert.equal(table.size, 0);
  assert.equal(await lcn.access!(p, ctxFor()), undefined);
  assert.equal(await lcn.access!(p, ctxFor()), undefined);
  assert.deepEqual(slept, [500]);
});

test('a slot acquired after the request already logged (client gone while waiting) is given back at once', async () => {
  const local = new LocalCounterStore(table);
  let open!: () => void;
  const gate = new Promise<void>((r) => { open = r; });
  setCounterStore({
    incr: (k, b, w) => local.incr(k, b, w), take: (k, r, b) => local.take(k, r, b), release: (k) => local.release(k),
    acquire: async (key, max) => { await gate; return local.acquire(key, max); },
  });
  const p = prepareWith(lcn, { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' });
  const ctx = ctxFor();
  const pending = lcn.access!(p, ctx);
  lcn.log!(p, ctx); // the response closed first
  open();
  await pending;
  assert.equal(table.size, 0, 'the slot was given back');
});

test('the unit delay adapts to request time unless only_use_default_delay', async () => {
  const p = prepareWith(lcn, { conn: 1, burst: 5, default_conn_delay: 1, key: 'remote_addr' });
  const ctx = Object.assign(ctxFor(), { startedAt: performance.now() - 200 }); // a 0.2 s request
  await lcn.access!(p, ctx);
  lcn.log!(p, ctx);
  assert.ok(p.unitDelay > 0.55 && p.unitDelay < 0.65, String(p.unitDelay)); // (0.2 + 1) / 2
  const fixed = prepareWith(lcn, { conn: 1, burst: 5, default_conn_delay: 1, only_use_default_delay: true, key: 'remote_addr' });
  const c2 = ctxFor();
  await lcn.access!(fixed, c2);
  lcn.log!(fixed, c2);
  assert.equal(fixed.unitDelay, 1);
});

test('a failing store: 500 unless allow_degradation', async () => {
  setCounterStore({
    incr: () => Promise.reject(new Error('down')), take: () => Promise.reject(new Error('down')),
    acquire: () => Promise.reject(new Error('down')), release: () => undefined,
  });
  // APISIX: a bare 500 (nginx's page), "failed to limit conn" only in the log
  const failed = await lcn.access!(prepareWith(lcn, { conn: 1, burst: 0, default_conn_delay: 1, key: 'remote_addr' }), ctxFor());
  assert.equal(failed?.status, 500);
  assert.match(String(failed?.body), /500 Internal Server Error/);
  assert.equal(await lcn.access!(prepareWith(lcn, { conn: 1, burst: 0, default_conn_delay: 1, key: 'remote_addr', allow_degradation: true }), ctxFor()), undefined);
});

test('key_type var_combination keys the slots; rejected_code and rejected_msg shape the rejection', async () => {
  assert.match(schemaError(lcn.schema, { conn: 1, burst: 0, default_conn_delay: 1, key: 'k', key_type: 'constant' })!, /property "key_type" validation failed/);
  assert.match(schemaError(lcn.schema, { conn: 1, burst: 0, default_conn_delay: 1, key: 'k', rejected_code: 199 })!, /property "rejected_code" validation failed/);
  const p = prepareWith(lcn, { conn: 1, burst: 0, default_conn_delay: 0.1, key_type: 'var_combination', key: '$http_x_user', rejected_code: 429 });
  const as = (user: string) => createTestContext({ routeId: 'r1', headers: { 'x-user': user } });
  assert.equal(await lcn.access!(p, as('a')), undefined);
  assert.equal(await lcn.access!(p, as('b')), undefined, 'another user has its own slot');
  const r = await lcn.access!(p, as('a'));
  assert.equal(r?.status, 429);
  assert.match(String(r?.body), /429 Too Many Requests/);
  const withMsg = prepareWith(lcn, { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr', rejected_code: 429, rejected_msg: 'slow down' });
  assert.equal(await lcn.access!(withMsg, ctxFor()), undefined);
  assert.deepEqual(await lcn.access!(withMsg, ctxFor()), { status: 429, body: { error_msg: 'slow down' } });
});
