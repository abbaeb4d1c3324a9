import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Gateway } from '../../helpers/gateway.js';
import { startWithAdminRoute } from '../../helpers/admin-route.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { routeTo, type AdminCall } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;

before(async () => {
  ({ gw, up, call } = await startWithAdminRoute('rb', '/rb/*', {
    prometheus: {},
    'file-logger': { path: 'rb.log', log_format: { uri: '$request_uri', reason: '$request_block_reason' } },
    'request-block': {
      block_urls: ['swagger.html'], block_headers: ['evil-agent'], block_bodies: ['DROP TABLE'],
      blocked_code: 418, blocked_message: 'blocked', case_sensitive: false,
    },
  }, { path: '/rb/ok' }));
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

test('ordinary requests reach the upstream, body included', async () => {
  const r = await get(gw.url + '/rb/items', { method: 'POST', body: '{"name":"table"}', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200);
  assert.equal(r.json().body, '{"name":"table"}', 'the body read by the plugin is still sent upstream');
});

test('URL, header and body matches are refused with blocked_code and blocked_message', async () => {
  for (const r of [
    await get(gw.url + '/rb/docs/Swagger.HTML?x=1'),
    await get(gw.url + '/rb/x', { headers: { 'user-agent': 'Evil-Agent/2.0' } }),
    await get(gw.url + '/rb/x', { method: 'POST', body: "'; drop table users; --" }),
  ]) {
    assert.equal(r.status, 418);
    assert.equal(r.body, 'blocked');
  }
});

test('refusals are counted by status and the plugin by its cost, in the metrics', async () => {
  await get(gw.url + '/rb/swagger.html');
  const text = await (await get(gw.metricsUrl)).body;
  assert.match(text, /^apisix_http_status\{code="418",route="rb",/m);
  assert.match(text, /^gatehouse_plugin_phase_duration_seconds_count\{plugin="request-block",phase="access"\} [1-9]/m);
});

test('the access log says which part matched ($request_block_reason); refusals are counted for the plugin', async () => {
  const before = await metricValue(gw, 'gatehouse_plugin_responses_total{plugin="request-block",route="rb",code="418"}');
  await get(gw.url + '/rb/swagger.html?log');
  await get(gw.url + '/rb/x?log', { headers: { 'x-client': 'evil-agent' } });
  await get(gw.url + '/rb/y?log', { method: 'POST', body: 'drop table' });
  await get(gw.url + '/rb/z?log');
  const log = join(gw.dir, 'data', 'logs', 'rb.log');
  assert.equal((await logEntry(log, 'uri', '/rb/swagger.html?log')).reason, 'url');
  assert.equal((await logEntry(log, 'uri', '/rb/x?log')).reason, 'header');
  assert.equal((await logEntry(log, 'uri', '/rb/y?log')).reason, 'body');
  assert.equal((await logEntry(log, 'uri', '/rb/z?log')).reason, null, 'nothing is set for a request let through');
  assert.equal(await metricValue(gw, 'gatehouse_plugin_responses_total{plugin="request-block",route="rb",code="418"}'), before + 3);
});

test('bad config is refused with a 400 naming the field', async () => {
  for (const [conf, field] of [
    [{}, 'block_urls'],
    [{ block_urls: [''] }, 'block_urls'],
    [{ block_urls: ['x'], blocked_code: 'x' }, 'blocked_code'],
    [{ block_urls: ['x'], case_sensitive: 1 }, 'case_sensitive'],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { 'request-block': conf } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(field));
  }
});
