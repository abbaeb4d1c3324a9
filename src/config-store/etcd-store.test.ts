// The etcd store on a real etcd (Debian's etcd-server binary): the shared store contract,
// APISIX's key layout, hand-written bad values, transactions, blobs in chunks. Faults
// (restarts, compaction, reachability), the node registry and credentials are in
// etcd-store-faults.test.ts.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { runStoreContract, waitFor } from '../../test/contract/config-store.contract.js';
import { startEtcd, type EtcdServer } from '../../test/helpers/etcd-server.js';
import type { StoreEvent } from '../contracts/store.js';
import { logger, setLogger, type Logger } from '../core/logger.js';
import { parseNodeConfig } from '../core/node-config.js';
import { createStore } from './create-store.js';
import { BLOB_CHUNK_BYTES } from './etcd-blobs.js';
import { EtcdStore, type EtcdStoreOptions } from './etcd-store.js';
import { ConfigState } from './state.js';

let etcd: EtcdServer;
let prefixes = 0;
const stores: EtcdStore[] = [];

/** Log lines the stores wrote, parsed. */
const logLines: { level: number; msg: string; key?: string; reason?: string; sha256?: string }[] = [];
const testLog: Logger = pino({ level: 'info' }, { write: (s: string) => { logLines.push(JSON.parse(s) as typeof logLines[number]); } });
const previousLogger = logger();

before(async () => {
  setLogger(testLog); // stores made by createStore log to the process logger
  etcd = await startEtcd();
});
after(async () => {
  for (const s of stores) await s.close();
  await etcd.cleanup();
  setLogger(previousLogger);
});

function openStore(opts: Partial<EtcdStoreOptions> = {}): EtcdStore {
  const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: `/t${++prefixes}`, timeoutMs: 5000, log: testLog, ...opts });
  stores.push(store);
  return store;
}

async function rawPut(key: string, value: string | Buffer): Promise<void> {
  await etcd.client().put(key).value(value);
}

const route = (id: string, uri = `/${id}`): Record<string, unknown> => ({ id, uri, upstream_id: 'u1' });

runStoreContract('etcd', async () => ({ store: openStore(), cleanup: async () => undefined }), { readOnly: false });

describe('EtcdStore', () => {
  it('writes APISIX\'s key layout under its prefix, with etcd revisions as indexes', async () => {
    const store = openStore({ prefix: '/layout' });
    const r1 = await store.put('routes', 'r1', route('r1'));
    await store.put('consumers', 'jack', { username: 'jack' });
    await store.put('credentials', 'jack/c1', { id: 'c1', plugins: { 'key-auth': { key: 'k1' } } });
    await store.put('secrets', 'vault/1', { id: 'vault/1', uri: 'http://127.0.0.1:8200', prefix: 'kv/apisix', token: 't' });
    await store.put('plugin_metadata', 'http-logger', { id: 'http-logger', log_format: { host: '$host' } });
    await store.put('custom_plugins', 'p1', {
      id: 'p1', name: 'P1', stage: 'default', priority: 10, root_id: 'p1', version: '1.0.0',
      versions: [{ version: '1.0.0', sha256: 'a'.repeat(64), size: 1, abi: 'v0.2.1', created_at: 1 }],
    });
    await store.put('stream_routes', 'sr1', { id: 'sr1', server_port: 9100, upstream_id: 'u1' });

    const raw = await etcd.client().getAll().prefix('/layout/').exec();
    assert.deepEqual(raw.kvs.map((kv) => kv.key.toString()).sort(), [
      '/layout/consumers/jack',
      '/layout/consumers/jack/credentials/c1',
      '/layout/gatehouse/custom_plugins/p1',
      '/layout/plugin_metadata/http-logger',
      '/layout/routes/r1',
      '/layout/secrets/vault/1',
      '/layout/stream_routes/sr1',
    ]);
    const routeKv = raw.kvs.find((kv) => kv.key.toString() === '/layout/routes/r1')!;
    assert.deepEqual(JSON.parse(routeKv.value.toString()), route('r1'));
    assert.equal(r1.createdIndex, Number(routeKv.create_revision));
    assert.equal(r1.modifiedIndex, Number(routeKv.mod_revision));

    const state = await store.load();
    assert.equal(state.revision, Number(raw.header.revision));
    assert.deepEqual(state.objects.map((o) => `${o.kind}/${o.id}`), [
      'routes/r1', 'consumers/jack', 'credentials/jack/c1', 'secrets/vault/1', 'plugin_metadata/http-logger', 'custom_plugins/p1',
      'stream_routes/sr1',
    ]);
    assert.deepEqual((await store.list('credentials')).map((o) => o.id), ['jack/c1']);
    assert.deepEqual((await store.list('consumers')).map((o) => o.id), ['jack']);
    await assert.rejects(store.put('routes', 'a/b', route('a/b')), /cannot be an etcd key/);
  });

  it('reads objects written by other tools, and skips and reports the bad ones', async () => {
    const store = openStore({ prefix: '/hand' });
    await rawPut('/hand/routes/good', JSON.stringify(route('good')));
    await rawPut('/hand/routes/not-json', '{"uri": "/x",');
    await rawPut('/hand/routes/not-object', '[1, 2]');
    await rawPut('/hand/routes/bad-field', JSON.stringify({ id: 'bad-field', uri: 5 }));
    await rawPut('/hand/routes/a/b', JSON.stringify(route('b')));
    await rawPut('/hand/protos/1', '{}'); // another APISIX feature's directory: not ours, not an error
    logLines.length = 0;

    const state = await store.load();
    assert.deepEqual(state.objects.map((o) => o.id), ['good']);
    const skipped = logLines.filter((l) => l.level === 50).map((l) => `${l.key}: ${l.reason}`);
    assert.equal(skipped.length, 4, skipped.join('\n'));
    assert.match(skipped.find((s) => s.startsWith('/hand/routes/not-json'))!, /not valid JSON/);
    assert.match(skipped.find((s) => s.startsWith('/hand/routes/not-object'))!, /expected object, got array/);
    assert.match(skipped.find((s) => s.startsWith('/hand/routes/bad-field'))!, /uri/);
    assert.match(skipped.find((s) => s.startsWith('/hand/routes/a/b'))!, /not an object key/);

    // reported once per revision, not on every read
    await store.load();
    assert.equal(logLines.filter((l) => l.level === 50).length, 4);

    // a watcher keeps the last good value when a bad one replaces it, and goes on
    const local = ConfigState.fromStoreState(state);
    const stop = store.watch(state.revision, (ev) => { local.applyEvent(ev); });
    try {
      await rawPut('/hand/routes/good', '{broken');
      await rawPut('/hand/routes/next', JSON.stringify(route('next')));
      await waitFor(() => local.has('routes', 'next'), 'the good value after the bad one');
      assert.equal(local.get('routes', 'good')?.value.uri, '/good');
      assert.ok(logLines.some((l) => l.key === '/hand/routes/good' && /not valid JSON/.test(l.reason ?? '')));
    } finally {
      stop();
    }
    // a bad value is no object to readers, so a create (the Admin API's PUT) replaces it
    assert.equal(await store.get('routes', 'not-json'), undefined);
    const fixed = await store.put('routes', 'not-json', route('not-json'), { expectedRevision: 0 });
    assert.equal((await store.get('routes', 'not-json'))?.modifiedIndex, fixed.modifiedIndex);
    await assert.rejects(store.put('routes', 'not-json', route('not-json'), { expectedRevision: 0 }), /must not exist/);
  });

  it('delivers the events of one transaction together, with one revision', async () => {
    const store = openStore({ prefix: '/txn' });
    await store.put('routes', 'old', route('old'));
    const start = await store.load();
    const local = ConfigState.fromStoreState(start);
    const received: { event: StoreEvent; tick: number }[] = [];
    let tick = 0;
    const stop = store.watch(start.revision, (event) => {
      received.push({ event, tick });
      local.applyEvent(event);
      // a later delivery in another task sees a higher tick
      setImmediate(() => { tick++; });
    });
    try {
      const put = (id: string) => ({ request_put: { key: Buffer.from(`/txn/routes/${id}`), value: Buffer.from(JSON.stringify(route(id))) } });
      await etcd.client().kv.txn({
        success: [put('t1'), put('t2'), put('t3'), { request_delete_range: { key: Buffer.from('/txn/routes/old') } }],
      });
      await waitFor(() => received.length >= 4, 'the transaction\'s four events');
      const revisions = new Set(received.map((r) => (r.event.type === 'reset' ? -1 : r.event.revision)));
      assert.equal(revisions.size, 1, 'one revision');
      assert.equal(new Set(received.map((r) => r.tick)).size, 1, 'delivered in one go');
      assert.deepEqual(received.map((r) => (r.event.type === 'put' ? `put ${r.event.object.id}` : r.event.type === 'delete' ? `delete ${r.event.id}` : 'reset')),
        ['put t1', 'put t2', 'put t3', 'delete old']);
      assert.deepEqual(local.list('routes').map((o) => o.id), ['t1', 't2', 't3']);
    } finally {
      stop();
    }
  });

  it('dates a state by its newest configuration change, whoever reads it: node and blob writes leave the revision alone', async () => {
    const writer = openStore({ prefix: '/dated' });
    await writer.put('routes', 'r1', route('r1'));
    const last = await writer.put('routes', 'r2', route('r2'));
    await writer.nodes.register({ id: 'n1', hostname: 'h', version: '0', store: 'etcd', applied_revision: 0, boot_time: '', updated_at: '' }, 10, () => undefined);
    await writer.blobs.putBlob(Buffer.from('a binary'));
    assert.equal((await writer.load()).revision, last.modifiedIndex);
    assert.equal((await openStore({ prefix: '/dated' }).load()).revision, last.modifiedIndex, 'a fresh reader agrees');

    // a delete leaves nothing to date it by: a fresh reader dates the state before it, and watching brings it up to date
    await writer.delete('routes', 'r1');
    const deletedAt = (await writer.load()).revision;
    assert.ok(deletedAt > last.modifiedIndex);
    const reader = openStore({ prefix: '/dated' });
    const state = await reader.load();
    assert.equal(state.revision, last.modifiedIndex);
    assert.deepEqual(state.objects.map((o) => o.id), ['r2']);
    const local = ConfigState.fromStoreState(state);
    const stop = reader.watch(state.revision, (ev) => { local.applyEvent(ev); });
    try {
      await waitFor(() => local.revision === deletedAt, 'the replayed delete');
      assert.deepEqual(local.list('routes').map((o) => o.id), ['r2']);
    } finally {
      stop();
    }
  });

  it('resyncs a watcher that is ahead of etcd (etcd restored from an older backup)', async () => {
    const store = openStore({ prefix: '/ahead' });
    await store.put('routes', 'r1', route('r1'));
    const current = await store.load();
    const events: StoreEvent[] = [];
    const stop = store.watch(current.revision + 1000, (ev) => { events.push(ev); });
    try {
      await waitFor(() => events.length > 0, 'the reset');
      assert.equal(events[0]!.type, 'reset');
      assert.deepEqual(events[0]!.type === 'reset' && events[0]!.state.objects.map((o) => o.id), ['r1']);
      await store.put('routes', 'r2', route('r2'));
      await waitFor(() => events.length > 1, 'the next write');
      assert.equal(events[1]!.type === 'put' && events[1]!.object.id, 'r2');
    } finally {
      stop();
    }
  });

  it('stores a 5 MB binary in chunks under gatehouse/blobs and reads it back', async () => {
    const store = openStore({ prefix: '/blobs', blobGraceMs: 0 });
    const bytes = randomBytes(5 * 1024 * 1024 + 123);
    const sha256 = await store.blobs.putBlob(bytes);
    assert.equal(sha256, createHash('sha256').update(bytes).digest('hex'));

    const keys = (await etcd.client().getAll().prefix(`/blobs/gatehouse/blobs/${sha256}/`).keys()).map((k) => k.split('/').pop());
    assert.deepEqual(keys.sort(), ['0', '1', '2', '3', '4', '5', 'manifest']);
    const chunk = await etcd.client().get(`/blobs/gatehouse/blobs/${sha256}/0`).buffer();
    assert.equal(chunk!.length, BLOB_CHUNK_BYTES);
    assert.ok((await store.blobs.getBlob(sha256))!.equals(bytes));
    assert.equal(await store.blobs.putBlob(bytes), sha256, 'the same bytes again: the same key');
    // blob chunks are not configuration: load() neither reads nor reports them
    logLines.length = 0;
    assert.deepEqual((await store.load()).objects, []);
    assert.equal(logLines.filter((l) => l.level >= 50).length, 0);

    // a chunk changed behind the store's back: detected, not handed out
    const tampered = Buffer.from(chunk!);
    tampered[100] = tampered[100]! ^ 0xff;
    await rawPut(`/blobs/gatehouse/blobs/${sha256}/0`, tampered);
    assert.equal(await store.blobs.getBlob(sha256), undefined);
    assert.ok(logLines.some((l) => l.level === 50 && l.sha256 === sha256 && /does not match its sha256/.test(l.msg)));
    await etcd.client().delete().key(`/blobs/gatehouse/blobs/${sha256}/3`);
    assert.equal(await store.blobs.getBlob(sha256), undefined);
    assert.ok(logLines.some((l) => /a chunk is missing/.test(l.msg)));

    const small = await store.blobs.putBlob(Buffer.from('small'));
    assert.deepEqual(await store.blobs.keepOnly(new Set([small])), [sha256]);
    assert.deepEqual(await etcd.client().getAll().prefix(`/blobs/gatehouse/blobs/${sha256}/`).keys(), []);
    assert.equal((await store.blobs.getBlob(small))!.toString(), 'small');
  });

  it('spares blobs younger than the grace period in keepOnly', async () => {
    const store = openStore({ prefix: '/grace', blobGraceMs: 60_000 });
    const sha256 = await store.blobs.putBlob(Buffer.from('just uploaded'));
    assert.deepEqual(await store.blobs.keepOnly(new Set()), []);
    assert.equal((await store.blobs.getBlob(sha256))!.toString(), 'just uploaded');
  });

  it('is what createStore makes of store.type: etcd in config.yaml', async () => {
    const config = parseNodeConfig(`store: {type: etcd, etcd: {endpoints: ["${etcd.endpoint}"], prefix: /from-config, timeout: 2}}\n`, '/etc/gatehouse/config.yaml');
    const store = await createStore(config);
    try {
      assert.ok(store instanceof EtcdStore);
      await store.put('routes', 'c1', route('c1'));
      assert.deepEqual(await etcd.client().getAll().prefix('/from-config/').keys(), ['/from-config/routes/c1']);
    } finally {
      await store.close();
    }
    // nothing is sent before the first call: a node may start from its local snapshot while etcd is down
    const down = await createStore(parseNodeConfig('store: {type: etcd, etcd: {endpoints: ["http://127.0.0.1:1"], timeout: 2}}\n', '/etc/gatehouse/config.yaml'));
    try {
      assert.equal((down as EtcdStore).describe(), 'etcd http://127.0.0.1:1 prefix /gatehouse');
      await assert.rejects(down.load(), /^GatehouseError: etcd http:\/\/127\.0\.0\.1:1 is unreachable: /);
      assert.equal((down as EtcdStore).reachable(), false);
    } finally {
      await down.close();
    }
  });

  it('keeps stores with different prefixes apart', async () => {
    const a = openStore({ prefix: '/apart/a' });
    const b = openStore({ prefix: '/apart/ab' });
    await a.put('routes', 'ra', route('ra'));
    await b.put('routes', 'rb', route('rb'));
    assert.deepEqual((await a.load()).objects.map((o) => o.id), ['ra']);
    assert.deepEqual((await b.list('routes')).map((o) => o.id), ['rb']);
  });
});
