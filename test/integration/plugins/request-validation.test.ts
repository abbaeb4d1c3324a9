import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { logEntry } from '../../helpers/observe.js';

let gw: Gateway;
let up: TestUpstream;

const MAX_BODY = 4096;
const BODY_SCHEMA = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'integer', minimum: 1 }, name: { type: 'string', pattern: '^(a+)+$' } },
};

const LOGGED = { path: 'rv.log', log_format: { uri: '$request_uri', error: '$request_validation_error' } };

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'body', uri: '/body', upstream, plugins: { 'request-validation': { body_schema: BODY_SCHEMA }, 'file-logger': LOGGED } },
      { id: 'header', uri: '/header', upstream, plugins: { 'request-validation': {
        header_schema: { type: 'object', required: ['x-token'], properties: { 'x-token': { type: 'string', minLength: 3 } } },
        rejected_code: 403, rejected_msg: 'bad header',
      }, 'file-logger': LOGGED } },
      { id: 'long', uri: '/long', upstream, plugins: { 'request-validation': {
        header_schema: { type: 'object', required: [`x-${'a'.repeat(300)}`] },
      }, 'file-logger': LOGGED } },
      { id: 'form', uri: '/form', upstream, plugins: { 'request-validation': {
        body_schema: { type: 'object', required: ['user'], properties: { user: { type: 'string', enum: ['alice', 'bob'] } } },
        rejected_code: 422,
      } } },
    ],
  }), { node: { max_buffered_body_size: MAX_BODY }, extra: { log_dir: '.' } }));
});

after(() => stopWithUpstream(gw, up));

const json = { 'content-type': 'application/json' };

test('a JSON body that matches passes, re-encoded so a duplicated key carries one value', async () => {
  const r = await get(gw.url + '/body', { method: 'POST', headers: json, body: '{"id":"x","id":7,"name":"aaa"}' });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.json().body), { id: 7, name: 'aaa' });
  assert.equal(r.json().body, '{"id":7,"name":"aaa"}');
});

test('a JSON body that does not match gets 400 and the validator message', async () => {
  const missing = await get(gw.url + '/body', { method: 'POST', headers: json, body: '{"name":"a"}' });
  assert.equal(missing.status, 400);
  assert.match(missing.body, /"id"/);
  const small = await get(gw.url + '/body', { method: 'POST', headers: json, body: '{"id":0}' });
  assert.equal(small.status, 400);
  assert.match(small.body, /property "id" validation failed/);
  assert.equal((await get(gw.url + '/body', { method: 'POST', headers: json, body: '{"id":' })).status, 400);
  assert.equal((await get(gw.url + '/body', { method: 'POST' })).status, 400, 'no body');
});

test('a pattern that backtracks badly runs in linear time (RE2)', async () => {
  const started = Date.now();
  const r = await get(gw.url + '/body', { method: 'POST', headers: json, body: JSON.stringify({ id: 1, name: `${'a'.repeat(3000)}!` }) });
  assert.equal(r.status, 400);
  assert.ok(Date.now() - started < 2000, 'answered promptly');
});

test('a body over node.max_buffered_body_size is refused with 413', async () => {
  const r = await get(gw.url + '/body', { method: 'POST', headers: json, body: JSON.stringify({ id: 1, pad: 'x'.repeat(MAX_BODY) }) });
  assert.equal(r.status, 413);
});

test('header_schema: rejected_code and rejected_msg', async () => {
  assert.equal((await get(gw.url + '/header', { headers: { 'X-Token': 'abcd' } })).status, 200);
  const r = await get(gw.url + '/header', { headers: { 'x-token': 'a' } });
  assert.equal(r.status, 403);
  assert.equal(r.body, 'bad header');
  assert.equal((await get(gw.url + '/header')).status, 403);
});

test('form bodies are validated as form arguments', async () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const ok = await get(gw.url + '/form', { method: 'POST', headers: form, body: 'user=alice&x=1' });
  assert.equal(ok.status, 200);
  assert.equal(ok.json().body, 'user=alice&x=1', 'a form body goes upstream untouched');
  const bad = await get(gw.url + '/form', { method: 'POST', headers: form, body: 'user=mallory' });
  assert.equal(bad.status, 422);
  assert.match(bad.body, /property "user" validation failed/);
});

test('bad config is refused through the Admin API with a 400 naming the field', () => withPluginRoutes('request-validation', async (put) => {
  const code = await put({ body_schema: BODY_SCHEMA, rejected_code: 100 });
  assert.equal(code.status, 400, code.text);
  assert.match(code.body.error_msg, /property "rejected_code" validation failed/);
  const schema = await put({ body_schema: { type: 'test' } });
  assert.equal(schema.status, 400, schema.text);
  assert.match(schema.body.error_msg, /invalid body_schema/);
  const badPattern = await put({ header_schema: { properties: { a: { pattern: '(a' } } } });
  assert.equal(badPattern.status, 400, badPattern.text);
  assert.match(badPattern.body.error_msg, /invalid header_schema/);
  assert.equal((await put({})).status, 400);
  assert.equal((await put({ body_schema: BODY_SCHEMA })).status, 201);
}));

test('the access log says which check failed and why ($request_validation_error), bounded', async () => {
  await get(gw.url + '/header?log', { headers: { 'x-token': 'ab' } });
  await get(gw.url + '/body?log=missing', { method: 'POST', headers: json, body: '{"name":"a"}' });
  await get(gw.url + '/long?log');
  await get(gw.url + '/body?log=ok', { method: 'POST', headers: json, body: '{"id":3}' });
  const log = join(gw.dir, 'rv.log');
  const header = String((await logEntry(log, 'uri', '/header?log')).error);
  assert.match(header, /^header_schema: .*"x-token"/);
  assert.match(String((await logEntry(log, 'uri', '/body?log=missing')).error), /^body_schema: .*"id"/);
  const long = String((await logEntry(log, 'uri', '/long?log')).error);
  assert.match(long, /^header_schema: property "x-aaa/);
  assert.equal(long.length, 256);
  assert.ok(long.endsWith('...'));
  assert.equal((await logEntry(log, 'uri', '/body?log=ok')).error, null);
});
