import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import breaker, { MAX_TRACKED, openWindowMs, resetBreakers } from './api-breaker.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

beforeEach(() => resetBreakers());

type Prepared = Parameters<NonNullable<typeof breaker.before_proxy>>[0];

test('schema: APISIX defaults and field errors', () => {
  const p = prepareWith(breaker, { break_response_code: 502 });
  assert.equal(p.maxBreakerMs, 300_000);
  assert.deepEqual([...p.unhealthyStatuses], [500]);
  assert.equal(p.failures, 3);
  assert.deepEqual([...p.healthyStatuses], [200]);
  assert.equal(p.successes, 3);
  assert.match(schemaError(breaker.schema, {})!, /break_response_code/);
  assert.match(schemaError(breaker.schema, { break_response_code: 502, unhealthy: { http_statuses: [500, 500] } })!, /http_statuses/);
  assert.match(schemaError(breaker.schema, { break_response_code: 502, healthy: { http_statuses: [500] } })!, /http_statuses/);
  assert.match(schemaError(breaker.schema, { break_response_code: 502, break_response_headers: [{ key: '', value: 'v' }] })!, /key/);
});

test('the open window doubles with each trip and stops at max_breaker_sec', () => {
  assert.deepEqual([1, 2, 3, 4, 6, 8].map((n) => openWindowMs(n, 2, 300_000)), [2000, 2000, 2000, 4000, 8000, 16_000]);
  assert.equal(openWindowMs(40, 1, 300_000), 300_000);
  assert.equal(openWindowMs(10_000, 1, 300_000), 300_000, 'no overflow on long outages');
});

async function through(p: Prepared, uri: string, status: number) {
  const ctx = createTestContext({ uri, host: 'h', vars: { upstream_status: status }, status });
  const refused = await breaker.before_proxy!(p, ctx);
  if (refused) return refused.status;
  await breaker.log!(p, ctx);
  return status;
}

test('failures trip the breaker per host and URI; a success in between restarts the count', async () => {
  const p = prepareWith(breaker, { break_response_code: 599, unhealthy: { failures: 2 }, healthy: { successes: 1 } });
  assert.equal(await through(p, '/a', 500), 500);
  assert.equal(await through(p, '/a', 200), 200); // closes: the count restarts
  assert.equal(await through(p, '/a', 500), 500);
  assert.equal(await through(p, '/a', 500), 500);
  assert.equal(await through(p, '/a', 200), 599, 'open now');
  assert.equal(await through(p, '/b', 200), 200, 'another URI is not affected');
});

test('the tracked host+URI pairs are bounded', async () => {
  const p = prepareWith(breaker, { break_response_code: 599, unhealthy: { failures: 1 } });
  for (let i = 0; i <= MAX_TRACKED; i++) await through(p, `/u${i}`, 500);
  assert.equal(await through(p, '/u0', 200), 200, 'the oldest pair was forgotten');
  assert.equal(await through(p, `/u${MAX_TRACKED}`, 200), 599);
});
