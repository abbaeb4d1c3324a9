import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;
const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    consumers: [
      { username: 'foo', plugins: { 'basic-auth': { username: 'foo', password: 'bar' } } },
      { username: 'jane', credentials: [{ id: 'c1', plugins: { 'basic-auth': { username: 'jane', password: 'p:w' } } }] },
    ],
    routes: [
      { id: 'ba', uri: '/ba', upstream, plugins: { 'basic-auth': {} } },
      { id: 'hide', uri: '/hide', upstream, plugins: { 'basic-auth': { hide_credentials: true } } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

test('no Authorization: 401 with the Basic challenge', async () => {
  const r = await get(gw.url + '/ba');
  assert.equal(r.status, 401);
  assert.deepEqual(r.json(), { message: 'Missing authorization in request' });
  assert.equal(r.headers['www-authenticate'], 'Basic realm="basic"');
});

test('wrong password, unknown user, malformed header', async () => {
  const wrong = await get(gw.url + '/ba', { headers: { authorization: basic('foo', 'baz') } });
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.json(), { message: 'Invalid user authorization' });
  const unknown = await get(gw.url + '/ba', { headers: { authorization: basic('who', 'bar') } });
  assert.deepEqual(unknown.json(), { message: 'Invalid user authorization' });
  const bad = await get(gw.url + '/ba', { headers: { authorization: 'Basic' } });
  assert.equal(bad.status, 401);
  assert.deepEqual(bad.json(), { message: 'Invalid authorization in request' });
});

test('valid credentials pass, with the header forwarded; credentials with a colon in the password work', async () => {
  const r = await get(gw.url + '/ba', { headers: { authorization: basic('foo', 'bar') } });
  assert.equal(r.status, 200);
  assert.equal(r.json().headers.authorization, basic('foo', 'bar'));
  assert.equal((await get(gw.url + '/ba', { headers: { authorization: basic('jane', 'p:w') } })).status, 200);
});

test('hide_credentials removes Authorization before the upstream', async () => {
  const r = await get(gw.url + '/hide', { headers: { authorization: basic('foo', 'bar') } });
  assert.equal(r.status, 200);
  assert.equal(r.json().headers.authorization, undefined);
});
