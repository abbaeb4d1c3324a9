import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchProcessor, batchOptionsOf, DOWN_AFTER_FAILURES, type BatchProcessorOptions } from './batch-processor.js';

const quiet = { warn: () => undefined, error: () => undefined };

function make(over: Partial<BatchProcessorOptions<number>>, sent: number[][]) {
  return new BatchProcessor<number>({
    name: 'test', batchMaxSize: 3, inactiveTimeoutMs: 60_000, bufferDurationMs: 60_000, maxRetryCount: 0, retryDelayMs: 0,
    send: async (e) => { sent.push([...e]); }, log: quiet, ...over,
  });
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not met in time');
}

// Keeps the event loop alive while unref'd timers are pending in these tests.
const keepAlive = setInterval(() => undefined, 1000);
test.after(() => clearInterval(keepAlive));

test('a full batch is sent at once; the rest waits', async () => {
  const sent: number[][] = [];
  const b = make({}, sent);
  for (let i = 1; i <= 4; i++) b.push(i);
  await until(() => b.pending === 1);
  assert.deepEqual(sent, [[1, 2, 3]]);
  await b.drain();
  assert.deepEqual(sent, [[1, 2, 3], [4]]);
});

test('inactive_timeout flushes a partial batch', async () => {
  const sent: number[][] = [];
  const b = make({ inactiveTimeoutMs: 20 }, sent);
  b.push(1);
  b.push(2);
  await until(() => sent.length === 1);
  assert.deepEqual(sent, [[1, 2]]);
});

test('buffer_duration bounds how long the oldest entry waits, even with steady traffic', async () => {
  let now = 0;
  const sent: number[][] = [];
  const b = make({ batchMaxSize: 1000, inactiveTimeoutMs: 10, bufferDurationMs: 50, now: () => now }, sent);
  b.push(1);
  // keep it active: the inactivity deadline keeps moving, the buffer deadline does not
  for (let i = 0; i < 200 && sent.length === 0; i++) {
    now += 5;
    b.push(i);
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.equal(sent.length, 1);
  assert.ok(sent[0]!.length < 200);
});

test('buffer_duration shorter than inactive_timeout still sends while entries keep coming', async () => {
  const sent: number[][] = [];
  const b = make({ batchMaxSize: 1000, inactiveTimeoutMs: 60_000, bufferDurationMs: 30 }, sent);
  let pushed = 0;
  for (; pushed < 200 && sent.length === 0; pushed++) {
    b.push(pushed);
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(sent.length, 1, 'sent before the inactivity deadline');
  assert.ok(pushed < 200);
});

test('retries max_retry_count times, then drops the batch, with one warning', async () => {
  let calls = 0;
  const warnings: string[] = [];
  const drops: [number, string][] = [];
  const b = new BatchProcessor<number>({
    name: 'http logger', batchMaxSize: 2, inactiveTimeoutMs: 60_000, bufferDurationMs: 60_000, maxRetryCount: 2, retryDelayMs: 1, minBackoffMs: 1,
    send: async () => { calls++; throw new Error('down'); },
    log: { warn: (_o, m) => { warnings.push(m); }, error: () => undefined },
    onDrop: (n, reason) => { drops.push([n, reason]); },
  });
  b.push(1);
  b.push(2);
  await b.drain();
  assert.equal(calls, 3);
  assert.equal(b.failed, 1);
  assert.deepEqual(drops, [[2, 'send_failed']]);
  assert.deepEqual(warnings, ['Batch Processor[http logger] 1 failed attempt(s), last error: down']);
  // the later attempts and the drop are summed into the next interval's line
  assert.equal(b.pending, 0);
});

test('a dead endpoint is tried once per backoff, not once per batch; the rest queue up to the bound, then drop', async () => {
  let calls = 0;
  const warnings: object[] = [];
  const drops = new Map<string, number>();
  const b = new BatchProcessor<number>({
    name: 'dead', batchMaxSize: 1, inactiveTimeoutMs: 60_000, bufferDurationMs: 60_000, maxRetryCount: 0, retryDelayMs: 0,
    minBackoffMs: 60_000, maxPending: 20,
    send: async () => { calls++; throw new Error('connect ECONNREFUSED'); },
    log: { warn: (o) => { warnings.push(o); }, error: () => undefined },
    onDrop: (n, reason) => { drops.set(reason, (drops.get(reason) ?? 0) + n); },
  });
  for (let i = 0; i < 1000; i++) b.push(i);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  // the first batches went out together; their failures pause every later send
  assert.equal(calls, 4);
  assert.equal(drops.get('send_failed'), 4);
  assert.equal(drops.get('queue_full'), 1000 - 20);
  assert.equal(b.pending, 16, 'the rest wait for the backoff to end');
  assert.equal(b.dropped, 1000 - 16);
  for (let i = 0; i < 4; i++) b.push(i); // full again
  let built = 0;
  b.pushLazy(() => ++built);
  assert.equal(built, 0, 'an entry that would be dropped is not built');
  assert.equal(warnings.length, 1, 'one warning for the interval, the rest counted into the next');
});

test('once the endpoint counts as down, only one batch is held and later entries are not built', async () => {
  let fail = true;
  let calls = 0;
  const b = new BatchProcessor<number>({
    name: 'down', batchMaxSize: 5, inactiveTimeoutMs: 60_000, bufferDurationMs: 60_000, maxRetryCount: 100, retryDelayMs: 0, minBackoffMs: 1, maxBackoffMs: 1,
    send: async () => { calls++; if (fail) throw new Error('down'); },
    log: quiet,
  });
  for (let i = 0; i < 5; i++) b.push(i);
  for (let i = 0; i < 400 && calls < DOWN_AFTER_FAILURES; i++) await new Promise((r) => setTimeout(r, 2));
  assert.ok(calls >= DOWN_AFTER_FAILURES);
  let built = 0;
  for (let i = 0; i < 20; i++) b.pushLazy(() => ++built);
  assert.equal(built, 0, 'the held batch fills the bound');
  assert.equal(b.pending, 5);
  fail = false;
  await b.drain();
  assert.equal(b.sent, 1);
  for (let i = 0; i < 20; i++) b.pushLazy(() => ++built);
  assert.equal(built, 20, 'back to the full bound once a send succeeds');
  await b.drain();
});

test('at most maxConcurrentSends batches are in flight', async () => {
  let calls = 0;
  const gate = new Promise<void>(() => undefined);
  const b = make({ batchMaxSize: 1, maxConcurrentSends: 3, send: () => { calls++; return gate; } }, []);
  for (let i = 0; i < 50; i++) b.push(i);
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 3);
  assert.equal(b.pending, 50);
});

test('a retry that succeeds delivers the same batch', async () => {
  const seen: number[][] = [];
  let calls = 0;
  const b = make({ batchMaxSize: 2, maxRetryCount: 3, minBackoffMs: 1, send: async (e) => { seen.push([...e]); if (++calls < 3) throw new Error('500'); } }, []);
  b.push(7);
  b.push(8);
  await b.drain();
  assert.deepEqual(seen, [[7, 8], [7, 8], [7, 8]]);
  assert.equal(b.sent, 1);
});

test('past maxPending new entries are dropped and counted; idle is reported', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let idle = 0;
  const drops: [number, string][] = [];
  const b = make({ batchMaxSize: 2, maxPending: 4, send: () => gate, onIdle: () => { idle++; }, onDrop: (n, r) => { drops.push([n, r]); } }, []);
  for (let i = 0; i < 6; i++) b.push(i);
  assert.equal(b.pending, 4);
  assert.equal(b.dropped, 2);
  assert.deepEqual(drops, [[1, 'queue_full'], [1, 'queue_full']]);
  release();
  await b.drain();
  assert.equal(b.pending, 0);
  assert.ok(idle >= 1);
});

test('APISIX config fields map to milliseconds with APISIX defaults', () => {
  assert.deepEqual(batchOptionsOf({}, 'http logger'), {
    name: 'http logger', batchMaxSize: 1000, inactiveTimeoutMs: 5000, bufferDurationMs: 60_000, maxRetryCount: 0, retryDelayMs: 1000,
  });
  assert.equal(batchOptionsOf({ name: 'mine', retry_delay: 0 }, 'x').retryDelayMs, 0);
});

test('keepWhenFull: while sends are slow but not failing, entries past maxPending are kept up to twice it, then dropped', async () => {
  const never = new Promise<void>(() => undefined);
  const plain = make({ batchMaxSize: 2, maxPending: 6, send: () => never }, []);
  for (let i = 0; i < 20; i++) plain.push(i);
  assert.equal(plain.pending, 6, 'without it, entries past maxPending are dropped');
  assert.equal(plain.dropped, 14);

  const drops: [number, string][] = [];
  const keeping = make({ batchMaxSize: 2, maxPending: 6, keepWhenFull: true, send: () => never, onDrop: (n, r) => { drops.push([n, r]); } }, []);
  for (let i = 0; i < 20; i++) keeping.push(i);
  assert.equal(keeping.pending, 12);
  assert.equal(keeping.dropped, 8);
  assert.deepEqual(drops[0], [1, 'queue_full']);
  let built = 0;
  keeping.pushLazy(() => ++built);
  assert.equal(built, 0, 'past twice maxPending, a lazy entry is not built');
});

test('keepWhenFull: while the endpoint is failing, nothing is kept past the bound', async () => {
  let calls = 0;
  const b = make({
    batchMaxSize: 5, maxPending: 10, keepWhenFull: true, maxRetryCount: 100, minBackoffMs: 1, maxBackoffMs: 1,
    send: async () => { calls++; throw new Error('down'); },
  }, []);
  for (let i = 0; i < 5; i++) b.push(i);
  await until(() => calls >= DOWN_AFTER_FAILURES);
  let built = 0;
  for (let i = 0; i < 30; i++) b.pushLazy(() => ++built);
  assert.equal(built, 0, 'the held batch fills the down bound');
  assert.equal(b.pending, 5);
});
