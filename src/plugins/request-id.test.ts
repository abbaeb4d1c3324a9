import { test } from 'node:test';
import assert from 'node:assert/strict';
import plugin, { ksuid, nanoid, rangeId, uuidV7 } from './request-id.js';
import { makeTestContext, prepareConf, schemaError } from '../../test/helpers/plugin-context-transform.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function run(conf: Record<string, unknown>, init: Parameters<typeof makeTestContext>[0] = {}) {
  const p = prepareConf(plugin, conf);
  const ctx = makeTestContext(init);
  plugin.rewrite!(p, ctx);
  plugin.header_filter!(p, ctx);
  return ctx;
}

test('declares the authorization stage and priority 975', () => {
  assert.equal(plugin.name, 'request-id');
  assert.equal(plugin.stage, 'authorization');
  assert.equal(plugin.priority, 975);
});

test('generates a uuid, sends it upstream, returns it and sets request_id', () => {
  const ctx = run({});
  const id = ctx.requestHeaders.get('x-request-id')!;
  assert.match(id, UUID);
  assert.equal(ctx.responseHeaders.get('x-request-id'), id);
  assert.equal(ctx.setVars.get('request_id'), id);
});

test('keeps an incoming id', () => {
  const ctx = run({}, { headers: { 'X-Request-Id': 'given-123' } });
  assert.equal(ctx.requestHeaders.get('x-request-id'), 'given-123');
  assert.equal(ctx.responseHeaders.get('x-request-id'), 'given-123');
});

test('an empty incoming id is replaced', () => {
  const ctx = run({}, { headers: { 'x-request-id': '' } });
  assert.match(ctx.requestHeaders.get('x-request-id')!, UUID);
});

test('include_in_response false leaves the response alone', () => {
  const ctx = run({ include_in_response: false });
  assert.ok(ctx.requestHeaders.get('x-request-id'));
  assert.equal(ctx.responseHeaders.has('x-request-id'), false);
});

test('an id the upstream answered with is not overwritten', () => {
  const ctx = run({}, { response: { headers: { 'x-request-id': 'from-upstream' } } });
  assert.equal(ctx.responseHeaders.get('x-request-id'), 'from-upstream');
});

test('header_name picks the header', () => {
  const ctx = run({ header_name: 'X-Trace' });
  assert.match(ctx.requestHeaders.get('x-trace')!, UUID);
  assert.equal(ctx.responseHeaders.get('x-trace'), ctx.requestHeaders.get('x-trace'));
});

test('nanoid: 21 URL-safe characters', () => {
  assert.match(nanoid(), /^[A-Za-z0-9_-]{21}$/);
  assert.match(run({ algorithm: 'nanoid' }).requestHeaders.get('x-request-id')!, /^[A-Za-z0-9_-]{21}$/);
  const seen = new Set(Array.from({ length: 1000 }, () => nanoid()));
  assert.equal(seen.size, 1000);
});

test('range_id: length and char_set', () => {
  assert.match(run({ algorithm: 'range_id' }).requestHeaders.get('x-request-id')!, /^[a-zA-Z0-9]{16}$/);
  const id = run({ algorithm: 'range_id', range_id: { length: 8, char_set: 'abcdef' } }).requestHeaders.get('x-request-id')!;
  assert.match(id, /^[a-f]{8}$/);
  assert.equal(rangeId(10, 'xyzxyz').length, 10);
});

test('ksuid: 27 base62 characters, time-ordered', () => {
  const a = ksuid(1_700_000_000_000);
  const b = ksuid(1_800_000_000_000);
  assert.match(a, /^[0-9A-Za-z]{27}$/);
  assert.ok(a < b);
  assert.match(run({ algorithm: 'ksuid' }).requestHeaders.get('x-request-id')!, /^[0-9A-Za-z]{27}$/);
});

test('uuidv7: RFC 9562 version 7 ids carrying the time, so they sort by it', () => {
  const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const at = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  const id = uuidV7(at);
  assert.match(id, V7);
  assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), at);
  assert.ok(uuidV7(at) < uuidV7(at + 1));
  assert.match(run({ algorithm: 'uuidv7' }).requestHeaders.get('x-request-id')!, V7);
});

test('range_id is refused with another algorithm, where it could have no effect', () => {
  assert.throws(() => prepareConf(plugin, { algorithm: 'nanoid', range_id: { length: 8 } }), /^Error: range_id only applies to algorithm range_id$/);
  assert.throws(() => prepareConf(plugin, { range_id: { char_set: 'abcdef' } }), /^Error: range_id only applies to algorithm range_id$/);
  // the default the schema fills in is no setting of the user's
  assert.ok(prepareConf(plugin, { algorithm: 'uuid' }));
  assert.ok(prepareConf(plugin, { algorithm: 'range_id', range_id: { length: 8 } }));
});

test('schema errors name the field', () => {
  assert.match(schemaError(plugin, { algorithm: 'snowflake' })!, /property "algorithm" validation failed/);
  assert.match(schemaError(plugin, { header_name: 1 })!, /property "header_name" validation failed/);
  assert.match(schemaError(plugin, { range_id: { length: 3 } })!, /property "range_id.length" validation failed/);
  assert.match(schemaError(plugin, { range_id: { char_set: 'abc' } })!, /property "range_id.char_set" validation failed/);
  assert.match(schemaError(plugin, { include_in_response: 'yes' })!, /property "include_in_response" validation failed/);
  assert.match(schemaError(plugin, { header_name: 'bad name' })!, /property "header_name" validation failed/);
  assert.match(schemaError(plugin, { header_name: 'X-Id\r\nX-Other' })!, /property "header_name" validation failed/);
});
