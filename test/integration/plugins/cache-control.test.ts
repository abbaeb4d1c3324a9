import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Gateway } from '../../helpers/gateway.js';
import { startWithAdminRoute } from '../../helpers/admin-route.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { routeTo, type AdminCall } from '../admin/client.js';
import { logEntry } from '../../helpers/observe.js';

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;

before(async () => {
  ({ gw, up, call } = await startWithAdminRoute('cc', '/cc/*', {
    'file-logger': { path: 'cc.log', log_format: { uri: '$request_uri', applied: '$cache_control_applied' } },
    'cache-control': { suffix: 'jpg|png', expires: '3600' },
  }, { path: '/cc/ok' }));
  for (const [id, conf] of [['cc-max', { suffix: ['.css'], expires: 'max' }], ['cc-all', { expires: 'epoch' }]] as const) {
    const r = await call('PUT', `/routes/${id}`, { ...routeTo(`/${id}/*`, up.port), plugins: { 'cache-control': conf } });
    assert.equal(r.status, 201, r.text);
  }
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

test('a path with one of the suffixes gets Expires and Cache-Control max-age; the query string is ignored', async () => {
  const started = Date.now();
  const r = await get(gw.url + '/cc/img/logo.png?v=2');
  assert.equal(r.status, 200);
  assert.equal(r.headers['cache-control'], 'max-age=3600');
  const expires = Date.parse(String(r.headers.expires));
  assert.ok(expires > started + 3590_000 && expires <= Date.now() + 3600_000, String(r.headers.expires));
});

test('other paths are left as the upstream sent them', async () => {
  for (const path of ['/cc/page.html', '/cc/png', '/cc/logo.PNG', '/cc/x?f=a.png']) {
    const r = await get(gw.url + path);
    assert.equal(r.status, 200);
    assert.equal(r.headers['cache-control'], undefined, path);
    assert.equal(r.headers.expires, undefined, path);
  }
});

test('max and epoch; no suffix means every response', async () => {
  const max = await get(gw.url + '/cc-max/site.css');
  assert.equal(max.headers.expires, 'Thu, 31 Dec 2037 23:55:55 GMT');
  assert.equal(max.headers['cache-control'], 'max-age=315360000');
  assert.equal((await get(gw.url + '/cc-max/site.js')).headers.expires, undefined);
  const epoch = await get(gw.url + '/cc-all/anything');
  assert.equal(epoch.headers.expires, 'Thu, 01 Jan 1970 00:00:01 GMT');
  assert.equal(epoch.headers['cache-control'], 'no-cache');
});

test('the access log says which responses got the headers ($cache_control_applied)', async () => {
  await get(gw.url + '/cc/a.jpg?log');
  await get(gw.url + '/cc/a.txt?log');
  const log = join(gw.dir, 'data', 'logs', 'cc.log');
  assert.equal((await logEntry(log, 'uri', '/cc/a.jpg?log')).applied, true);
  assert.equal((await logEntry(log, 'uri', '/cc/a.txt?log')).applied, null);
});

test('bad config is refused with a 400 naming the field', async () => {
  for (const [conf, field] of [
    [{}, 'expires'],
    [{ expires: 'tomorrow' }, 'expires'],
    [{ expires: '60', suffix: 'jpg||png' }, 'suffix'],
    [{ expires: '60', suffix: ['img/x'] }, 'suffix'],
    [{ expires: '60', suffixes: 'js' }, 'suffixes'],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { 'cache-control': conf } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(field));
  }
});
