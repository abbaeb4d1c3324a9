// The sqlite database deleted or replaced under a running gateway: SQLite would keep
// writing into the unlinked file, so writes that answer 201 would be gone after a
// restart. Instead writes are refused with 503 and readiness names the cause, while
// the data plane keeps serving the configuration it has.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { startUpstream } from '../../fixtures/upstream.js';
import { adminClient } from './client.js';

const up = await startUpstream('a');
const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
const gateways: Gateway[] = [];
after(async () => {
  for (const gw of gateways) await gw.stop();
  await up.close();
});

async function gatewayWithRoute(): Promise<{ gw: Gateway; db: string }> {
  const gw = await startGateway({ store: 'sqlite' });
  gateways.push(gw);
  const r = await adminClient(gw)('PUT', '/routes/kept', { uri: '/kept', upstream });
  assert.equal(r.status, 201, r.text);
  await eventually(async () => (await get(`${gw.url}/kept`)).status === 200);
  return { gw, db: join(gw.dir, 'data', 'gatehouse.db') };
}

async function expectRefusedAndNotReady(gw: Gateway, cause: RegExp): Promise<void> {
  const call = adminClient(gw);
  const put = await call('PUT', '/routes/lost', { uri: '/lost', upstream });
  assert.equal(put.status, 503, put.text);
  assert.match(put.body.error_msg, cause);
  assert.match(put.body.error_msg, /writes are refused until gatehouse restarts/);
  assert.equal((await call('DELETE', '/routes/kept')).status, 503);
  const ready = await get(`${gw.statusUrl}/status/ready`);
  assert.equal(ready.status, 503, ready.body);
  assert.match(JSON.parse(ready.body).error_msg, cause);
  // the log line travels through the process's stderr pipe: it may land after the answer
  await gw.waitForOutput(cause);
  // the data plane keeps serving what it had
  assert.equal((await get(`${gw.url}/kept`)).status, 200);
}

test('the database file deleted: writes answer 503, /status/ready 503 naming the cause', async () => {
  const { gw, db } = await gatewayWithRoute();
  await rm(db);
  await expectRefusedAndNotReady(gw, /gatehouse\.db was deleted while the gateway runs/);
});

test('the database file replaced by another file: the same', async () => {
  const { gw, db } = await gatewayWithRoute();
  await rm(db);
  await writeFile(db, '');
  await expectRefusedAndNotReady(gw, /gatehouse\.db was replaced by another file/);
});
