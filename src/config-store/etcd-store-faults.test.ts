// The etcd store when things go wrong, on real etcd processes: restarts (the watch
// resumes from its revision), compaction (reset), reachability, the node registry's
// leases, credentials and TLS.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { waitFor } from '../../test/contract/config-store.contract.js';
import { issueCert, makeCa } from '../../test/helpers/certs.js';
import { startEtcd, type EtcdServer } from '../../test/helpers/etcd-server.js';
import type { NodeRecord } from '../contracts/cluster.js';
import type { StoreEvent } from '../contracts/store.js';
import { isGatehouseError } from '../core/errors.js';
import { EtcdStore, type EtcdStoreOptions } from './etcd-store.js';
import { ConfigState } from './state.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const quiet = pino({ level: 'silent' });
const route = (id: string): Record<string, unknown> => ({ id, uri: `/${id}`, upstream_id: 'u1' });
const unavailable = (e: unknown): boolean => isGatehouseError(e, 'GH_ERR_STORE_UNAVAILABLE');

/** Polls an async condition until it holds or the bounded wait is over. */
async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('EtcdStore across etcd restarts', () => {
  let etcd: EtcdServer;
  let n = 0;
  const stores: EtcdStore[] = [];
  const openStore = (opts: Partial<EtcdStoreOptions> = {}): EtcdStore => {
    const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix: `/f${++n}`, timeoutMs: 3000, log: quiet, ...opts });
    stores.push(store);
    return store;
  };
  before(async () => { etcd = await startEtcd(); });
  after(async () => {
    for (const s of stores) await s.close();
    await etcd.cleanup();
  });

  /** A watcher on `store` from its current state, recording every event. */
  async function watchAll(store: EtcdStore) {
    const start = await store.load();
    const local = ConfigState.fromStoreState(start);
    const events: StoreEvent[] = [];
    const stop = store.watch(start.revision, (ev) => { events.push(ev); local.applyEvent(ev); });
    return { local, events, stop };
  }

  /** Stops etcd, starts it again and writes with another client before `store` (probing every few seconds) is back. */
  async function bounceAndWrite(store: EtcdStore, write: () => Promise<void>): Promise<void> {
    await etcd.stop();
    await waitFor(() => !store.reachable(), 'the store to see etcd go');
    await etcd.restart();
    await write();
    assert.equal(store.reachable(), false, 'the writes were made while the store was still away');
  }

  it('resumes its watch after etcd restarts: the writes made while it was away arrive, without a reset', async () => {
    const store = openStore({ probeIntervalMs: 4000 });
    const { local, events, stop } = await watchAll(store);
    try {
      await store.put('routes', 'r1', route('r1'));
      await waitFor(() => local.has('routes', 'r1'), 'r1');
      const prefix = store.keys.prefix;
      await bounceAndWrite(store, async () => {
        await etcd.client().put(`${prefix}/routes/r2`).value(JSON.stringify(route('r2')));
        await etcd.client().put(`${prefix}/routes/r3`).value(JSON.stringify(route('r3')));
        await etcd.client().delete().key(`${prefix}/routes/r1`);
      });
      await waitFor(() => local.has('routes', 'r3') && !local.has('routes', 'r1'), 'the writes made while away', 8000);
      assert.equal(events.filter((e) => e.type === 'reset').length, 0, 'no reset: the watch resumed from its revision');
      assert.deepEqual(events.map((e) => (e.type === 'delete' ? `delete ${e.id}` : e.type === 'put' ? `put ${e.object.id}` : 'reset')),
        ['put r1', 'put r2', 'put r3', 'delete r1']);
      assert.deepEqual(local.list('routes').map((o) => o.id), ['r2', 'r3']);
      assert.equal(local.revision, (await store.load()).revision);
    } finally {
      stop();
    }
  });

  it('resyncs with a reset when etcd compacted the revisions its watch needs, then goes on', async () => {
    const store = openStore({ probeIntervalMs: 4000 });
    const { local, events, stop } = await watchAll(store);
    try {
      await store.put('routes', 'c1', route('c1'));
      const prefix = store.keys.prefix;
      await bounceAndWrite(store, async () => {
        await etcd.client().put(`${prefix}/routes/c2`).value(JSON.stringify(route('c2')));
        await etcd.client().delete().key(`${prefix}/routes/c1`);
        await etcd.compact();
      });
      await waitFor(() => events.some((e) => e.type === 'reset'), 'the reset', 8000);
      assert.deepEqual(local.list('routes').map((o) => o.id), ['c2']);
      await store.put('routes', 'c3', route('c3'));
      await waitFor(() => local.has('routes', 'c3'), 'a write after the reset');
      assert.equal(events.at(-1)?.type, 'put');
    } finally {
      stop();
    }
  });

  it('reports etcd down and back, refuses writes at once while down, and takes them again within a second', async () => {
    const store = openStore({ probeIntervalMs: 200 });
    const transitions: string[] = [];
    store.onReachability((up, detail) => transitions.push(up ? 'up' : `down: ${detail ?? ''}`));
    const { stop } = await watchAll(store); // as the primary does: the watch notices first
    try {
      await store.put('routes', 'w1', route('w1'));
      await etcd.stop();
      await waitFor(() => !store.reachable(), 'etcd to be seen down', 3000);
      const t0 = Date.now();
      await assert.rejects(store.put('routes', 'w2', route('w2')),
        (e: unknown) => unavailable(e) && (e as Error).message.includes(`etcd ${etcd.endpoint} is unreachable`));
      await assert.rejects(store.delete('routes', 'w1'), unavailable);
      assert.ok(Date.now() - t0 < 200, `refused at once, took ${Date.now() - t0} ms`);
      assert.match(store.unreachableDetail()!, /^etcd http:\/\/127\.0\.0\.1:\d+ is unreachable: /);

      await etcd.restart();
      const back = Date.now();
      await waitFor(() => store.reachable(), 'etcd to be seen back', 2000);
      assert.ok(Date.now() - back < 1500, `noticed after ${Date.now() - back} ms`);
      await store.put('routes', 'w3', route('w3'));
      assert.equal(store.unreachableDetail(), undefined);
      assert.equal(transitions.length, 2, transitions.join(' | '));
      assert.match(transitions[0]!, /^down: etcd http:\/\/127\.0\.0\.1:\d+ is unreachable: /);
      assert.equal(transitions[1], 'up');
    } finally {
      stop();
    }
  });

  it('fails a write within the timeout when nothing watches, and names the endpoint', async () => {
    const store = openStore({ timeoutMs: 2000 });
    await store.put('routes', 'x1', route('x1'));
    await etcd.stop();
    try {
      const t0 = Date.now();
      await assert.rejects(store.put('routes', 'x2', route('x2')),
        (e: unknown) => unavailable(e) && (e as Error).message.startsWith(`etcd ${etcd.endpoint} is unreachable`));
      assert.ok(Date.now() - t0 <= 2100, `took ${Date.now() - t0} ms`);
      assert.equal(store.reachable(), false);
    } finally {
      await etcd.restart();
    }
  });

  it('bounds a request by the timeout when etcd stops answering without closing connections', async () => {
    const store = openStore({ timeoutMs: 1000, probeIntervalMs: 200 });
    await store.put('routes', 'p1', route('p1'));
    etcd.pause();
    try {
      const t0 = Date.now();
      await assert.rejects(store.put('routes', 'p2', route('p2')), unavailable);
      const took = Date.now() - t0;
      assert.ok(took >= 900 && took < 1500, `took ${took} ms`);
      assert.equal(store.reachable(), false);
    } finally {
      etcd.resume();
    }
    await waitFor(() => store.reachable(), 'etcd answering again', 3000);
    await store.put('routes', 'p3', route('p3'));
  });

  it('refuses to connect to an unreachable endpoint with a clear error, and fails over between endpoints', async () => {
    await assert.rejects(EtcdStore.connect({ endpoints: ['http://127.0.0.1:1'], timeoutMs: 2000, log: quiet }),
      (e: unknown) => unavailable(e) && /^etcd http:\/\/127\.0\.0\.1:1 is unreachable: .*ECONNREFUSED/.test((e as Error).message));
    const store = await EtcdStore.connect({ endpoints: ['http://127.0.0.1:1', etcd.endpoint], prefix: '/failover', timeoutMs: 2000, log: quiet });
    stores.push(store);
    for (let i = 0; i < 4; i++) await store.put('routes', `f${i}`, route(`f${i}`));
    assert.equal((await store.list('routes')).length, 4);
  });

  describe('node directory', () => {
    const record = (id: string, applied = 0): NodeRecord => ({
      id, hostname: 'host-a', version: '1.2.3', store: 'etcd', applied_revision: applied,
      boot_time: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:01.000Z',
    });

    it('keeps a node under a lease; a lease revoked behind its back is reported lost', async () => {
      const store = openStore();
      let lost = 0;
      await store.nodes.register(record('node-a'), 2, () => { lost++; });
      assert.deepEqual(await store.nodes.list(), [record('node-a')]);
      await store.nodes.report(record('node-a', 7));
      assert.deepEqual(await store.nodes.list(), [record('node-a', 7)]);

      const key = `${store.keys.prefix}/data_plane/server_info/node-a`;
      const leaseOf = async (): Promise<string | undefined> => (await etcd.client().kv.range({ key: Buffer.from(key) })).kvs[0]?.lease;
      const lease = await leaseOf();
      assert.ok(lease !== undefined && lease !== '0', 'the record lives on a lease');
      await etcd.client().leaseClient.leaseRevoke({ ID: lease });
      // the next report or the keep-alive, whichever comes first, finds the lease gone
      await assert.rejects(store.nodes.report(record('node-a', 8)));
      await waitFor(() => lost === 1, 'onLost');
      assert.deepEqual(await store.nodes.list(), []);

      await store.nodes.register(record('node-a', 8), 2, () => { lost++; });
      assert.notEqual(await leaseOf(), lease);
      assert.deepEqual(await store.nodes.list(), [record('node-a', 8)]);
      await store.nodes.unregister('node-a');
      assert.deepEqual(await store.nodes.list(), [], 'unregister revokes the lease');
      assert.equal(lost, 1);
    });

    it('revokes a registration left at close', async () => {
      const store = openStore();
      const observer = openStore({ prefix: store.keys.prefix });
      await store.nodes.register(record('node-b'), 30, () => undefined);
      await store.close();
      assert.deepEqual(await observer.nodes.list(), []);
    });

    it('drops a node whose process died once its lease runs out', async () => {
      const prefix = '/crash';
      const script = `const { EtcdStore } = await import(${JSON.stringify(new URL('./etcd-store.js', import.meta.url).href)});
        const store = new EtcdStore({ endpoints: [${JSON.stringify(etcd.endpoint)}], prefix: '${prefix}', timeoutMs: 3000 });
        await store.nodes.register({ id: 'doomed', hostname: 'h', version: '0', store: 'etcd', applied_revision: 0, boot_time: '', updated_at: '' }, 2, () => {});
        process.stderr.write('registered\\n');
        setInterval(() => {}, 1000);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
      try {
        await new Promise<void>((resolve, reject) => {
          let err = '';
          const timer = setTimeout(() => reject(new Error(`the node did not register: ${err}`)), 10_000);
          child.stderr.on('data', (d: Buffer) => {
            err += d.toString();
            if (err.includes('registered')) { clearTimeout(timer); resolve(); }
          });
        });
        const observer = openStore({ prefix });
        assert.deepEqual((await observer.nodes.list()).map((r) => r.id), ['doomed']);
        child.kill('SIGKILL');
        await until(async () => (await observer.nodes.list()).length === 0, 'the lease to run out', 6000);
      } finally {
        child.kill('SIGKILL');
      }
    });
  });
});

describe('EtcdStore credentials', () => {
  let etcd: EtcdServer;
  before(async () => {
    etcd = await startEtcd();
    await etcd.enableAuth('root-secret');
  });
  after(async () => { await etcd.cleanup(); });

  it('refuses wrong or missing credentials with a clear error naming the endpoint', async () => {
    await assert.rejects(EtcdStore.connect({ endpoints: [etcd.endpoint], user: 'root', password: 'wrong', timeoutMs: 3000, log: quiet }),
      (e: unknown) => unavailable(e) && (e as Error).message === `etcd ${etcd.endpoint}: authentication failed for user "root": check store.etcd.user and store.etcd.password`);
    await assert.rejects(EtcdStore.connect({ endpoints: [etcd.endpoint], user: 'nobody', password: 'x', timeoutMs: 3000, log: quiet }),
      /authentication failed for user "nobody"/);
    await assert.rejects(EtcdStore.connect({ endpoints: [etcd.endpoint], timeoutMs: 3000, log: quiet }),
      (e: unknown) => unavailable(e) && (e as Error).message === `etcd ${etcd.endpoint} requires authentication: set store.etcd.user and store.etcd.password`);
  });

  it('works with the right credentials, the watch included', async () => {
    const store = await EtcdStore.connect({ endpoints: [etcd.endpoint], user: 'root', password: 'root-secret', prefix: '/auth', timeoutMs: 3000, log: quiet });
    try {
      const start = await store.load();
      const local = ConfigState.fromStoreState(start);
      const stop = store.watch(start.revision, (ev) => { local.applyEvent(ev); });
      await store.put('routes', 'a1', route('a1'));
      await waitFor(() => local.has('routes', 'a1'), 'the watched write');
      stop();
    } finally {
      await store.close();
    }
  });
});

describe('EtcdStore over TLS', () => {
  let etcd: EtcdServer;
  let dir: string;
  let caFile: string;
  before(async () => {
    const ca = makeCa('gatehouse etcd test CA');
    const server = issueCert(ca, 'localhost', { names: ['localhost'] });
    etcd = await startEtcd({ tls: { cert: server.cert, key: server.key, ca: ca.cert } });
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-etcd-tls-'));
    caFile = join(dir, 'ca.pem');
    await writeFile(caFile, ca.cert);
  });
  after(async () => {
    await etcd.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  const connect = (opts: Partial<EtcdStoreOptions>): Promise<EtcdStore> =>
    EtcdStore.connect({ endpoints: [etcd.endpoint], prefix: '/tls', timeoutMs: 3000, log: quiet, ...opts });

  it('connects with the CA that signed etcd\'s certificate, and refuses an unknown one', async () => {
    const store = await connect({ tls: { ca: caFile } });
    await store.put('routes', 's1', route('s1'));
    await store.close();
    await assert.rejects(connect({ tls: {} }), (e: unknown) => unavailable(e) && /is unreachable: .*certificate/i.test((e as Error).message));
    const byIp = etcd.endpoint.replace('localhost', '127.0.0.1');
    await assert.rejects(connect({ endpoints: [byIp], tls: { ca: caFile } }), unavailable);
  });

  it('accepts any server certificate with verify: false', async () => {
    const store = await connect({ endpoints: [etcd.endpoint.replace('localhost', '127.0.0.1')], tls: { verify: false } });
    assert.equal((await store.get('routes', 's1'))?.id, 's1');
    await store.close();
  });

  it('names the field of a TLS file it cannot read', () => {
    assert.throws(() => new EtcdStore({ endpoints: [etcd.endpoint], tls: { ca: join(dir, 'missing.pem') }, log: quiet }),
      /store\.etcd\.tls\.ca: cannot read .*missing\.pem/);
  });
});
