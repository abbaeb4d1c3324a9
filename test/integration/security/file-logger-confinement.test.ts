import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { adminClient, routeTo, type AdminCall } from '../admin/client.js';
import { get } from '../../helpers/http.js';

// file-logger's `path` used to be opened wherever it pointed: a route could append to
// any file the gateway's user can write. It is now confined to the node's log_dir
// (default <data_dir>/logs).

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;

before(async () => {
  up = await startUpstream('a');
  gw = await startGateway({ store: 'sqlite' });
  call = adminClient(gw);
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

test('a path outside the log directory is refused with a 400 naming plugins.file-logger.path', async () => {
  for (const path of ['../escape.log', '/tmp/gatehouse-escape.log', join(gw.dir, 'config.yaml'), 'logs/../../x.log']) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { 'file-logger': { path } } });
    assert.equal(r.status, 400, path);
    assert.match(r.body.error_msg, /plugins\.file-logger\.path: ".*" resolves outside the log directory/, path);
  }
  assert.equal(existsSync('/tmp/gatehouse-escape.log'), false);
});

test('a relative path writes inside the log directory', async () => {
  const r = await call('PUT', '/routes/ok', { ...routeTo('/ok', up.port), plugins: { 'file-logger': { path: 'app/access.log' } } });
  assert.equal(r.status, 201, r.text);
  await eventually(async () => (await get(`${gw.url}/ok?n=1`)).status === 200);
  const file = join(gw.dir, 'data', 'logs', 'app', 'access.log');
  await eventually(() => existsSync(file) && readFileSync(file, 'utf8').includes('/ok'));
  const line = JSON.parse(readFileSync(file, 'utf8').trim().split('\n').at(-1)!) as { request: { uri: string } };
  assert.match(line.request.uri, /^\/ok/);
});
