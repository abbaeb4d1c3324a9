// A change made through the Admin API reaches every worker, and /status/ready tells
// whether it has.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { adminClient, routeTo, type AdminCall } from './client.js';

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;

before(async () => {
  up = await startUpstream('via-admin');
  gw = await startGateway({ store: 'sqlite', workers: 2 });
  call = adminClient(gw);
});
after(async () => {
  await gw?.stop();
  await up?.close();
});

/** One request on a fresh connection, so the cluster's round-robin spreads them over the workers. */
function fresh(path: string): Promise<{ status: number; upstream: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${gw.url}${path}`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, upstream: res.headers['x-upstream'] as string | undefined }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

interface Ready { status: number; body: { revision: number; error_msg?: string; workers: { pid: number; revision: number }[] } }
async function ready(): Promise<Ready> {
  const r = await get(`${gw.statusUrl}/status/ready`);
  return { status: r.status, body: r.json() };
}

test('/status answers while the process is up', async () => {
  const r = await get(`${gw.statusUrl}/status`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json(), { status: 'ok' });
});

test('a route created through the API serves traffic on every worker once /status/ready is 200', async () => {
  const put = await call('PUT', '/routes/live', routeTo('/live', up.port));
  assert.equal(put.status, 201, put.text);
  const revision = put.body.modifiedIndex as number;
  await eventually(async () => {
    const r = await ready();
    return r.status === 200 && r.body.revision >= revision;
  });
  const r = await ready();
  assert.equal(r.body.workers.length, 2);
  for (const w of r.body.workers) assert.ok(w.revision >= revision);
  for (let i = 0; i < 20; i++) assert.deepEqual(await fresh('/live'), { status: 200, upstream: 'via-admin' });
});

test('/status/ready is 503 naming a worker that has not applied the newest revision', async () => {
  await eventually(async () => (await ready()).status === 200);
  const { body } = await ready();
  const stopped = body.workers[0]!.pid;
  process.kill(stopped, 'SIGSTOP');
  try {
    const put = await call('PUT', '/routes/later', routeTo('/later', up.port));
    assert.equal(put.status, 201, put.text);
    await eventually(async () => {
      const r = await ready();
      return r.status === 503 && (r.body.error_msg ?? '').includes(`pid ${stopped}`);
    });
  } finally {
    process.kill(stopped, 'SIGCONT');
  }
  await eventually(async () => (await ready()).status === 200);
  for (let i = 0; i < 10; i++) assert.equal((await fresh('/later')).status, 200);
});
