import { test, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import lc from './limit-count.js';
import { createTestContext, prepareWith, schemaError, type TestContextOptions } from '../../test/helpers/plugin-context.js';
import { setCounterStore } from '../counters/index.js';
import { CounterTable, LocalCounterStore } from '../counters/counter-table.js';
import type { CounterStore } from '../contracts/counter-store.js';

let now = 0;
beforeEach(() => {
  now = 0;
  setCounterStore(new LocalCounterStore(new CounterTable(() => now)));
});
after(() => setCounterStore(undefined));

type Prepared = Parameters<NonNullable<typeof lc.access>>[0];

async function hit(p: Prepared, opts: TestContextOptions = {}) {
  const ctx = createTestContext({ routeId: 'r1', ...opts });
  const result = await lc.access!(p, ctx);
  return { result, headers: ctx.response.headers, ctx };
}

test('schema: APISIX fields and defaults; the policies are local, redis and redis-cluster', () => {
  const p = prepareWith(lc, { count: 2, time_window: 60 });
  assert.equal(p.count, 2);
  assert.equal(p.windowMs, 60_000);
  assert.equal(p.rejectedCode, 503);
  assert.equal(p.showHeaders, true);
  assert.equal(schemaError(lc.schema, { count: 1 }), 'property "time_window" is required');
  assert.match(schemaError(lc.schema, { count: 0, time_window: 1 })!, /property "count" validation failed/);
  assert.match(schemaError(lc.schema, { count: 1, time_window: 1, policy: 'redis-sentinel' })!, /property "policy" validation failed/);
  assert.match(schemaError(lc.schema, { count: 1, time_window: 1, key_type: 'header' })!, /property "key_type" validation failed/);
  assert.match(schemaError(lc.schema, { count: 1, time_window: 1, rejected_code: 600 })!, /property "rejected_code" validation failed/);
  assert.equal(schemaError(lc.schema, { count: 1, time_window: 1, policy: 'local', group: 'g', rejected_msg: 'x' }), undefined);
});

test('schema: window_type is fixed only (APISIX 3.18\'s sliding is not built: refused naming the field)', () => {
  assert.equal(schemaError(lc.schema, { count: 1, time_window: 1, window_type: 'fixed' }), undefined);
  assert.match(schemaError(lc.schema, { count: 1, time_window: 1, window_type: 'sliding' })!, /property "window_type" validation failed/);
});

test('count and time_window as strings: a number, or variables resolved per request (APISIX 3.16)', async () => {
  const fromText = prepareWith(lc, { count: '2', time_window: '60' });
  assert.deepEqual([fromText.count, fromText.windowMs, fromText.dynamic], [2, 60_000, undefined]);
  assert.throws(() => prepareWith(lc, { count: 'many', time_window: 1 }), /count: "many" is neither a positive integer nor names a variable/);
  assert.throws(() => prepareWith(lc, { count: '0', time_window: 1 }), /count: "0"/);
  assert.throws(() => prepareWith(lc, { count: 1, time_window: '$http_x_window $nope' }), /time_window: unknown variable '\$nope'/);
  assert.match(schemaError(lc.schema, { count: '', time_window: 1 })!, /property "count" validation failed/);

  const byHeader = prepareWith(lc, { count: '$http_x_quota', time_window: '${http_x_window}' });
  const as = (quota: string, window = '10') => hit(byHeader, { headers: { 'x-quota': quota, 'x-window': window } });
  let r = await as('2');
  assert.equal(r.result, undefined);
  assert.deepEqual([r.headers['x-ratelimit-limit'], r.headers['x-ratelimit-remaining'], r.headers['x-ratelimit-reset']], ['2', '1', '10']);
  assert.equal((await as('2')).result, undefined);
  r = await as('2');
  assert.equal(r.result?.status, 503);
  assert.equal(r.headers['x-ratelimit-remaining'], '0');
  // another resolved quota is another counter
  assert.equal((await as('3')).result, undefined);
  assert.equal((await as('2', '20')).result, undefined);

  // not a positive integer: 500 (nginx's page), or the request passes with allow_degradation
  for (const bad of ['0', '-1', '1.5', 'x', '9007199254740992']) {
    const failed = await as(bad);
    assert.equal(failed.result?.status, 500, bad);
  }
  assert.equal((await hit(byHeader, {})).result?.status, 500, 'header missing');
  const lenient = prepareWith(lc, { count: '$http_x_quota', time_window: 10, allow_degradation: true });
  assert.equal((await hit(lenient, {})).result, undefined);
  assert.equal((await hit(lenient, { headers: { 'x-quota': '1' } })).result, undefined);
  assert.equal((await hit(lenient, { headers: { 'x-quota': '1' } })).result?.status, 503);
});

test('count per window with the three quota headers, then the rejection, then a new window', async () => {
  const p = prepareWith(lc, { count: 3, time_window: 60 });
  for (let i = 0; i < 3; i++) {
    const { result, headers } = await hit(p);
    assert.equal(result, undefined);
    assert.equal(headers['x-ratelimit-limit'], '3');
    assert.equal(headers['x-ratelimit-remaining'], String(2 - i));
    assert.equal(headers['x-ratelimit-reset'], String(60 - 10 * i));
    now += 10_000;
  }
  now = 59_500;
  const { result, headers } = await hit(p);
  assert.equal(result?.status, 503);
  assert.match(String(result?.body), /<title>503 Service Temporarily Unavailable<\/title>/);
  // set in access for whatever answers, the rejection included
  assert.deepEqual(headers, { 'x-ratelimit-limit': '3', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' });
  now = 60_000;
  assert.equal((await hit(p)).result, undefined);
});

test('rejected_code and rejected_msg; show_limit_quota_header false', async () => {
  const p = prepareWith(lc, { count: 1, time_window: 10, rejected_code: 429, rejected_msg: 'slow down', show_limit_quota_header: false });
  const first = await hit(p);
  assert.equal(first.result, undefined);
  assert.deepEqual(first.headers, {});
  const { result } = await hit(p);
  assert.deepEqual(result, { status: 429, body: { error_msg: 'slow down' } });
});

test('keys: var (remote_addr by default, any variable), var_combination, constant; no value → client address', async () => {
  const byAddr = prepareWith(lc, { count: 1, time_window: 10 });
  assert.equal((await hit(byAddr, { remoteAddr: '10.0.0.1' })).result, undefined);
  assert.equal((await hit(byAddr, { remoteAddr: '10.0.0.2' })).result, undefined);
  assert.equal((await hit(byAddr, { remoteAddr: '10.0.0.1' })).result?.status, 503);

  const byHeader = prepareWith(lc, { count: 1, time_window: 10, key: 'http_x_user' });
  assert.equal((await hit(byHeader, { headers: { 'x-user': 'a' } })).result, undefined);
  assert.equal((await hit(byHeader, { headers: { 'x-user': 'b' } })).result, undefined);
  assert.equal((await hit(byHeader, { headers: { 'x-user': 'a' } })).result?.status, 503);
  // no header: the client address is the key
  assert.equal((await hit(byHeader, { remoteAddr: '10.9.9.9' })).result, undefined);
  assert.equal((await hit(byHeader, { remoteAddr: '10.9.9.9' })).result?.status, 503);

  const combo = prepareWith(lc, { count: 1, time_window: 10, key_type: 'var_combination', key: '$remote_addr $http_x_user' });
  assert.equal((await hit(combo, { headers: { 'x-user': 'a' } })).result, undefined);
  assert.equal((await hit(combo, { headers: { 'x-user': 'b' } })).result, undefined);
  assert.equal((await hit(combo, { headers: { 'x-user': 'a' } })).result?.status, 503);

  const constant = prepareWith(lc, { count: 1, time_window: 10, key_type: 'constant', key: 'everyone' });
  assert.equal((await hit(constant, { remoteAddr: '1.1.1.1' })).result, undefined);
  assert.equal((await hit(constant, { remoteAddr: '2.2.2.2' })).result?.status, 503);
});

test('counters are per owner and config; a group shares one counter across routes', async () => {
  const conf = { count: 1, time_window: 10 };
  const p = prepareWith(lc, conf);
  assert.equal((await hit(p, { routeId: 'a' })).result, undefined);
  assert.equal((await hit(p, { routeId: 'b' })).result, undefined);
  assert.equal((await hit(p, { routeId: 'a' })).result?.status, 503);
  // a changed config is a new counter (APISIX conf_version)
  const changed = prepareWith(lc, { ...conf, rejected_msg: 'x' });
  assert.equal((await hit(changed, { routeId: 'a' })).result, undefined);

  const g1 = prepareWith(lc, { ...conf, group: 'shared' });
  const g2 = prepareWith(lc, { ...conf, group: 'shared' });
  assert.equal((await hit(g1, { routeId: 'a' })).result, undefined);
  assert.equal((await hit(g2, { routeId: 'b' })).result?.status, 503);
});

test('global rule and route instances count separately (owner from the request\'s chains)', async () => {
  const global = prepareWith(lc, { count: 1, time_window: 10 });
  const route = prepareWith(lc, { count: 1, time_window: 10 });
  // what the runtime's PluginRun exposes
  const ctxFor = () => Object.assign(createTestContext({ routeId: 'r1' }), {
    globalChain: { all: [{ prepared: global, origin: 'global_rule', originId: '1' }] },
    routeChain: { all: [{ prepared: route, origin: 'route', originId: 'r1' }] },
  });
  assert.equal(await lc.access!(global, ctxFor()), undefined);
  assert.equal(await lc.access!(route, ctxFor()), undefined);
  assert.equal((await lc.access!(global, ctxFor()))?.status, 503);
  assert.equal((await lc.access!(route, ctxFor()))?.status, 503);
});

test('header names from plugin metadata', async () => {
  const p = prepareWith(lc, { count: 2, time_window: 5 }, {
    metadata: { limit_header: 'X-Quota', remaining_header: 'X-Quota-Left', reset_header: 'X-Quota-Reset' },
  });
  const { headers } = await hit(p);
  assert.deepEqual(headers, { 'x-quota': '2', 'x-quota-left': '1', 'x-quota-reset': '5' });
});

test('the last instance to run access sets the headers', async () => {
  const a = prepareWith(lc, { count: 5, time_window: 60 });
  const b = prepareWith(lc, { count: 2, time_window: 60, key_type: 'constant', key: 'k' });
  const ctx = createTestContext({ routeId: 'r1' });
  await lc.access!(a, ctx);
  await lc.access!(b, ctx);
  assert.equal(ctx.response.headers['x-ratelimit-limit'], '2');
  assert.equal(ctx.response.headers['x-ratelimit-remaining'], '1');
});

test('a failing counter store: 500, or pass with allow_degradation', async () => {
  const failing: CounterStore = {
    incr: () => Promise.reject(new Error('down')),
    take: () => Promise.reject(new Error('down')),
    acquire: () => Promise.reject(new Error('down')),
    release: () => undefined,
  };
  setCounterStore(failing);
  const strict = prepareWith(lc, { count: 1, time_window: 1 });
  assert.deepEqual((await hit(strict)).result, { status: 500, body: { error_msg: 'failed to limit count' } });
  const lenient = prepareWith(lc, { count: 1, time_window: 1, allow_degradation: true });
  assert.equal((await hit(lenient)).result, undefined);
});
