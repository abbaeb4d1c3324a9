import { test } from 'node:test';
import assert from 'node:assert/strict';
import cr from './consumer-restriction.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';
import type { ConsumerRef } from '../contracts/plugin.js';

const jack: ConsumerRef = { username: 'jack', group_id: 'gold', plugins: {} };
const rose: ConsumerRef = { username: 'rose', plugins: {} };

test('schema: one of the lists is required, fields are named, defaults filled', () => {
  assert.equal(schemaError(cr.schema, {}),
    'object matches none of the required: ["blacklist"] or ["whitelist"] or ["allowed_by_methods"]');
  assert.match(schemaError(cr.schema, { whitelist: [] })!, /property "whitelist" validation failed: expect array to have at least 1 items/);
  assert.match(schemaError(cr.schema, { type: 'nope', whitelist: ['a'] })!, /property "type" validation failed: matches none of the enum values/);
  assert.match(schemaError(cr.schema, { whitelist: ['a'], rejected_code: 100 })!, /property "rejected_code"/);
  assert.equal(schemaError(cr.schema, { whitelist: ['a'], rejected_code: 1000 }),
    'property "rejected_code" validation failed: expected 1000 to be at most 599');
  assert.match(schemaError(cr.schema, { allowed_by_methods: [{ user: 'a', methods: ['FETCH'] }] })!, /allowed_by_methods/);
  // an entry without a user matches nobody; one without methods would block that user entirely
  assert.equal(schemaError(cr.schema, { allowed_by_methods: [{ methods: ['GET'] }] }), 'property "allowed_by_methods" validation failed: failed to validate item 1: property "user" is required');
  assert.equal(schemaError(cr.schema, { allowed_by_methods: [{ user: 'a' }] }), 'property "allowed_by_methods" validation failed: failed to validate item 1: property "methods" is required');
  const p = prepareWith(cr, { whitelist: ['jack'] });
  assert.equal(p.rejectedCode, 403);
  assert.equal(p.rejectedMsg, 'The consumer_name is forbidden.');
});

test('whitelist by consumer_name', async () => {
  const p = prepareWith(cr, { whitelist: ['jack'] });
  assert.equal(await cr.access!(p, createTestContext({ consumer: jack })), undefined);
  assert.deepEqual(await cr.access!(p, createTestContext({ consumer: rose })),
    { status: 403, body: { message: 'The consumer_name is forbidden.' } });
});

test('no consumer: 401 asking to check the type', async () => {
  const p = prepareWith(cr, { whitelist: ['jack'] });
  assert.deepEqual(await cr.access!(p, createTestContext()),
    { status: 401, body: { message: 'The request is rejected, please check the consumer_name for this request' } });
});

test('blacklist, rejected_code and rejected_msg', async () => {
  const p = prepareWith(cr, { blacklist: ['jack'], rejected_code: 401, rejected_msg: 'go away' });
  assert.deepEqual(await cr.access!(p, createTestContext({ consumer: jack })), { status: 401, body: { message: 'go away' } });
  assert.equal(await cr.access!(p, createTestContext({ consumer: rose })), undefined);
});

test('consumer_group_id, route_id and service_id', async () => {
  const g = prepareWith(cr, { type: 'consumer_group_id', whitelist: ['gold'] });
  assert.equal(await cr.access!(g, createTestContext({ consumer: jack })), undefined);
  assert.equal((await cr.access!(g, createTestContext({ consumer: rose })))?.status, 401, 'consumer without a group');
  const r = prepareWith(cr, { type: 'route_id', blacklist: ['r1'] });
  assert.deepEqual(await cr.access!(r, createTestContext({ routeId: 'r1' })), { status: 403, body: { message: 'The route_id is forbidden.' } });
  assert.equal(await cr.access!(r, createTestContext({ routeId: 'r2' })), undefined);
  const s = prepareWith(cr, { type: 'service_id', whitelist: ['s1'] });
  assert.equal(await cr.access!(s, createTestContext({ serviceId: 's1' })), undefined);
  assert.equal((await cr.access!(s, createTestContext({ routeId: 'r1' })))?.status, 401);
});

test('allowed_by_methods limits listed users; unlisted users pass; whitelisted users skip it', async () => {
  const p = prepareWith(cr, { allowed_by_methods: [{ user: 'jack', methods: ['GET'] }] });
  assert.equal(await cr.access!(p, createTestContext({ consumer: jack, method: 'GET' })), undefined);
  assert.equal((await cr.access!(p, createTestContext({ consumer: jack, method: 'POST' })))?.status, 403);
  assert.equal(await cr.access!(p, createTestContext({ consumer: rose, method: 'POST' })), undefined);
  const both = prepareWith(cr, { whitelist: ['jack'], allowed_by_methods: [{ user: 'jack', methods: ['GET'] }] });
  assert.equal(await cr.access!(both, createTestContext({ consumer: jack, method: 'POST' })), undefined);
});

test('each rejection is a fresh object (the runner may rewrite the body)', async () => {
  const p = prepareWith(cr, { blacklist: ['jack'] });
  const a = await cr.access!(p, createTestContext({ consumer: jack }));
  const b = await cr.access!(p, createTestContext({ consumer: jack }));
  assert.notEqual(a, b);
});
