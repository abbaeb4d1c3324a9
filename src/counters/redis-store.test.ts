import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { RedisCounterStore } from './redis-store.js';
import { openConnections, type RedisNodeTarget } from './redis-connections.js';
import { startRedis, type TestRedis } from '../../test/helpers/redis-server.js';

// What the Redis store does beyond the shared contract (test/contract/counter-store-redis):
// keys without node identity, the timeout bound on a hung or stopped server, recovery,
// slots that expire, and connections shared per target and closed with their last user.

let redis: TestRedis;
before(async () => { redis = await startRedis(); });
after(async () => { await redis?.close(); });

const target = (over: Partial<RedisNodeTarget> = {}): RedisNodeTarget => ({
  policy: 'redis', host: redis.host, port: redis.port, database: 0, tls: false, tlsVerify: false, timeoutMs: 300, ...over,
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function eventually(what: string, fn: () => Promise<boolean> | boolean, tries = 100, everyMs = 50): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return;
    await sleep(everyMs);
  }
  throw new Error(`${what}: not in time`);
}

/** How long `p` takes to settle, and how. */
async function timed<T>(p: Promise<T>): Promise<{ ms: number; value?: T; error?: string }> {
  const t0 = performance.now();
  try {
    const value = await p;
    return { ms: performance.now() - t0, value };
  } catch (e) {
    return { ms: performance.now() - t0, error: (e as Error).message };
  }
}

/** Runs `fn` with a store on the emptied server, closing it after. */
async function withStore(timeoutMs: number, fn: (store: RedisCounterStore) => Promise<void>): Promise<void> {
  await redis.cli('flushall');
  const store = new RedisCounterStore(target({ timeoutMs }));
  try {
    await fn(store);
  } finally {
    store.close();
  }
}

test('the keys are the counter identities under one prefix, nothing of the node or process', () => withStore(300, async (store) => {
  await store.incr('route/r1:v1:127.0.0.1', 1, 60_000);
  await store.take('route/r1:v2:127.0.0.1', 1, 1);
  await store.acquire('route/r1:v3:127.0.0.1', 5);
  const keys = (await redis.cli('--raw', 'keys', '*')).trim().split('\n').sort();
  assert.deepEqual(keys, [
    'gatehouse:bucket:route/r1:v2:127.0.0.1', 'gatehouse:slots:route/r1:v3:127.0.0.1', 'gatehouse:window:route/r1:v1:127.0.0.1',
  ]);
  const ttl = Number((await redis.cli('pttl', 'gatehouse:window:route/r1:v1:127.0.0.1')).trim());
  assert.ok(ttl > 59_000 && ttl <= 60_000, `the window expires with the server's clock: ${ttl}`);
}));

test('a slot never released expires after its TTL; release removes this store\'s own slot', async () => {
  const a = new RedisCounterStore(target());
  const b = new RedisCounterStore(target({ timeoutMs: 301 }));
  try {
    assert.equal(await a.acquire('ttl', 1, 200), 1);
    assert.equal(await b.acquire('ttl', 1, 200), -1);
    await sleep(250);
    // a's node "died" holding the slot: it is given back by Redis
    assert.equal(await b.acquire('ttl', 1, 60_000), 1);
    a.release('ttl'); // a's slot is gone already: b's stays
    await sleep(50);
    assert.equal(await a.acquire('ttl', 1, 60_000), -1);
    b.release('ttl');
    await eventually('b\'s release', async () => (await a.acquire('ttl', 1, 60_000)) === 1);
  } finally {
    a.close();
    b.close();
  }
});

test('a hung server (SIGSTOP): every operation fails within the timeout; then counting resumes', () => withStore(300, async (store) => {
  assert.equal((await store.incr('hung', 1, 60_000)).count, 1);
  redis.pause();
  try {
    const ops: (() => Promise<unknown>)[] = [
      () => store.incr('hung', 1, 60_000), () => store.take('hung-b', 1, 0), () => store.acquire('hung-c', 1),
    ];
    for (const op of ops) {
      const r = await timed(op());
      assert.match(String(r.error), /redis did not answer .* within 300 ms/);
      assert.ok(r.ms >= 280 && r.ms < 800, `answered after ${r.ms} ms`);
    }
  } finally {
    redis.resume();
  }
  // the timed-out acquire's slot, if the server ran it after all, is removed again
  await eventually('counting resumes', async () => (await timed(store.incr('hung', 1, 60_000))).value !== undefined);
  await eventually('the late slot is released', async () => (await store.acquire('hung-c', 1)) === 1);
}));

test('a stopped server: operations fail fast once the client knows, and counting resumes when it is back', () => withStore(500, async (store) => {
  assert.equal((await store.incr('down', 1, 60_000)).count, 1);
  await redis.stop();
  const first = await timed(store.incr('down', 1, 60_000));
  assert.ok(first.error !== undefined && first.ms < 700, `failed after ${first.ms} ms: ${first.error}`);
  await eventually('fails fast while reconnecting', async () => {
    const r = await timed(store.incr('down', 1, 60_000));
    return r.error !== undefined && /unreachable/.test(r.error) && r.ms < 50;
  });
  await redis.start();
  // no persistence: the counter starts again
  await eventually('counting resumes', async () => (await timed(store.incr('down', 1, 60_000))).value?.count === 1, 60);
}));

test('one connection per target, shared by its stores and closed with the last of them', async () => {
  const base = openConnections();
  const a = new RedisCounterStore(target());
  const b = new RedisCounterStore(target());
  const other = new RedisCounterStore(target({ database: 1 }));
  assert.equal(openConnections(), base, 'nothing is opened before the first operation');
  await Promise.all([a.incr('share', 1, 1000), b.incr('share', 1, 1000), other.incr('share', 1, 1000)]);
  assert.equal(openConnections(), base + 2);
  a.close();
  assert.equal(openConnections(), base + 2);
  b.close();
  other.close();
  assert.equal(openConnections(), base);
  await assert.rejects(a.incr('share', 1, 1000), /closed/);
});

test('a store dropped without close (its plugin instance replaced) gives its share back when collected', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const base = openConnections();
  await (async () => {
    const dropped = new RedisCounterStore(target({ timeoutMs: 777 }));
    await dropped.incr('gc', 1, 1000);
  })();
  assert.equal(openConnections(), base + 1);
  await eventually('the connection is closed', async () => {
    gc();
    await sleep(10);
    return openConnections() === base;
  }, 50);
});

test('hitThreshold: Higress\'s window on the key as given, counting stopping one past the threshold', () => withStore(300, async (store) => {
  const key = 'higress-cluster-key-rate-limit:r:global_threshold:60';
  const counts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await store.hitThreshold(key, 2, 60);
    counts.push(r.count);
    assert.ok(r.ttlSeconds > 0 && r.ttlSeconds <= 60, `ttl ${r.ttlSeconds}`);
  }
  assert.deepEqual(counts, [1, 2, 3, 3, 3]);
  assert.deepEqual((await redis.cli('--raw', 'keys', '*')).trim().split('\n'), [key]);
  assert.equal(Number((await redis.cli('ttl', key)).trim()) > 0, true);
}));
