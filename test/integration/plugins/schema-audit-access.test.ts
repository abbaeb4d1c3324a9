// The schema audit of the access, auth and traffic plugins (basic-auth, key-auth,
// jwt-auth, consumer-restriction, ip-restriction, cors, real-ip, request-id, redirect,
// fault-injection, mocking) through the Admin API: a field that could have no effect
// is refused with a 400 naming it; an APISIX value added by the audit is accepted and
// works on a real gateway.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { adminClient, type AdminCall } from '../admin/client.js';

let gw: Gateway;
let call: AdminCall;
// Never contacted: every route below is answered by a plugin.
const upstream = { nodes: { '127.0.0.1:1980': 1 } };

before(async () => {
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  call = adminClient(gw);
});
after(async () => { await gw?.stop(); });

async function refused(path: string, body: unknown, field: string): Promise<void> {
  const r = await call('PUT', path, body);
  assert.equal(r.status, 400, r.text);
  const quoted = field.replace(/\./g, '\\.');
  assert.match(r.body.error_msg, new RegExp(`property "${quoted}" validation failed|additional properties forbidden, found ${quoted}$`));
}

test('jwt-auth: a consumer with exp is refused, naming exp', async () => {
  await refused('/consumers/jack', { username: 'jack', plugins: { 'jwt-auth': { key: 'jack-key', secret: 'jack-secret', exp: 86400 } } }, 'exp');
  const ok = await call('PUT', '/consumers/jack', { username: 'jack', plugins: { 'jwt-auth': { key: 'jack-key', secret: 'jack-secret' } } });
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.body.value.plugins['jwt-auth'].exp, undefined);
});

test('jwt-auth: base64_secret with a secret that is no base64 is refused, naming secret without quoting it', async () => {
  const r = await call('PUT', '/consumers/kate', { username: 'kate', plugins: { 'jwt-auth': { key: 'kate-key', secret: 'kate secret!', base64_secret: true } } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.body.error_msg, /property "secret" validation failed/);
  assert.doesNotMatch(r.text, /kate secret!/);
});

test('statuses that are no HTTP final status are refused, naming the field', async () => {
  await refused('/routes/fi', { uri: '/fi', upstream, plugins: { 'fault-injection': { abort: { http_status: 1000 } } } }, 'abort.http_status');
  await refused('/routes/rd', { uri: '/rd', upstream, plugins: { redirect: { uri: '/x', ret_code: 1000 } } }, 'ret_code');
  await refused('/routes/cr', { uri: '/cr', upstream, plugins: { 'consumer-restriction': { whitelist: ['a'], rejected_code: 1000 } } }, 'rejected_code');
  await refused('/routes/mk', { uri: '/mk', upstream, plugins: { mocking: { response_example: 'x', response_status: 101 } } }, 'response_status');
});

test('fields that could have no effect in that combination are refused, naming them', async () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['real-ip', { source: 'http_x_forwarded_for', recursive: true }, /plugin real-ip err: recursive needs trusted_addresses/],
    ['redirect', { http_to_https: true, ret_code: 307 }, /plugin redirect err: ret_code has no effect with http_to_https/],
    ['request-id', { algorithm: 'nanoid', range_id: { length: 8 } }, /plugin request-id err: range_id only applies to algorithm range_id/],
    ['cors', { timing_allow_origins: 'http://a.com', timing_allow_origins_by_regex: ['a'] }, /plugin cors err: timing_allow_origins has no effect/],
    ['consumer-restriction', { allowed_by_methods: [{ methods: ['GET'] }] }, /property "user" is required/],
    ['mocking', { response_example: 'x', delay: -1 }, /property "delay" validation failed/],
  ];
  for (const [name, conf, message] of cases) {
    const r = await call('PUT', '/routes/combo', { uri: '/combo', upstream, plugins: { [name]: conf } });
    assert.equal(r.status, 400, `${name}: ${r.text}`);
    assert.match(r.body.error_msg, message);
  }
});

test('request-id uuidv7 and a mocked 204 work end to end', async () => {
  const put = await call('PUT', '/routes/v7', { uri: '/v7', upstream, plugins: {
    'request-id': { algorithm: 'uuidv7' },
    mocking: { response_example: 'ignored for a 204', response_status: 204 },
  } });
  assert.equal(put.status, 201, put.text);
  await eventually(async () => (await get(gw.url + '/v7')).status === 204);
  const r = await get(gw.url + '/v7');
  assert.equal(r.status, 204);
  assert.equal(r.body, '');
  assert.equal(r.headers['content-length'], undefined, 'a 204 carries no Content-Length');
  assert.match(r.headers['x-request-id'] as string, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
