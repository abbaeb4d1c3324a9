// Writes acknowledged by the Admin API survive a SIGKILL of the whole gateway.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { makeCert } from '../../helpers/certs.js';
import { startUpstream } from '../../fixtures/upstream.js';
import { adminClient, routeTo, type AdminReply } from './client.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

test('every acknowledged write is present after kill -9 of the process group and a restart', async () => {
  const up = await startUpstream('durable');
  cleanups.push(() => up.close());
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-admin-durable-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const first = await startGateway({ store: 'sqlite', dir, processGroup: true, workers: 2 });
  cleanups.push(() => first.stop());
  const call = adminClient(first);
  const cert = makeCert(['durable.test']);

  const acked = new Map<string, AdminReply>();
  const write = async (method: string, path: string, body: unknown, key = path): Promise<void> => {
    const r = await call(method, path, body);
    assert.ok(r.status === 200 || r.status === 201, `${method} ${path}: ${r.status} ${r.text}`);
    acked.set(key, r);
  };
  await write('PUT', '/upstreams/u1', { nodes: { [`127.0.0.1:${up.port}`]: 1 } });
  await write('PUT', '/services/s1', { upstream_id: 'u1' });
  await write('PUT', '/consumer_groups/g1', { plugins: {} });
  await write('PUT', '/consumers', { username: 'jack', group_id: 'g1' }, '/consumers/jack');
  await write('PUT', '/consumers/jack/credentials/c1', { plugins: { 'key-auth': { key: 'k1' } } });
  await write('PUT', '/plugin_configs/p1', { plugins: {} });
  await write('PUT', '/global_rules/gr1', { plugins: {} });
  await write('PUT', '/plugin_metadata/cors', { allow_origins: { site: 'https://a.example' } });
  await write('PUT', '/ssls/t1', { ...cert, snis: ['durable.test'] });
  for (let i = 0; i < 20; i++) await write('PUT', `/routes/r${i}`, { ...routeTo(`/d/${i}`, up.port), service_id: 's1' });
  await write('PATCH', '/routes/r0', { desc: 'patched' });
  const posted = await call('POST', '/routes', routeTo('/posted', up.port));
  assert.equal(posted.status, 201);
  acked.set(`/routes/${posted.body.value.id as string}`, posted);

  // Writes still in flight at the kill: the ones answered before it must survive too.
  const inflight = Array.from({ length: 30 }, (_, i) => call('PUT', `/routes/f${i}`, routeTo(`/f/${i}`, up.port))
    .then((r) => { if (r.status === 201) acked.set(`/routes/f${i}`, r); }, () => undefined));
  await new Promise((r) => setTimeout(r, 5));
  await first.killGroup();
  await Promise.all(inflight);

  const second = await startGateway({ store: 'sqlite', dir, processGroup: true, workers: 2 });
  cleanups.push(() => second.stop());
  assert.equal(second.adminKey, first.adminKey);
  assert.ok(!second.output().includes(first.adminKey), 'the generated key is printed only at first start');
  const call2 = adminClient(second);
  for (const [path, reply] of acked) {
    const got = await call2('GET', path);
    assert.equal(got.status, 200, `${path} is missing after the restart`);
    assert.deepEqual(got.body.value, reply.body.value, path);
    assert.equal(got.body.modifiedIndex, reply.body.modifiedIndex, path);
  }
  assert.equal((await get(`${second.url}/d/7`)).status, 200);
});
