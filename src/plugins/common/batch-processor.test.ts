import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchProcessor, batchOptionsOf, type BatchProcessorOptions } from './batch-processor.js';

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

test('retries max_retry_count times, then drops the batch', async () => {
  let calls = 0;
  const errors: string[] = [];
  const b = new BatchProcessor<number>({
    name: 'http logger', batchMaxSize: 2, inactiveTimeoutMs: 60_000, bufferDurationMs: 60_000, maxRetryCount: 2, retryDelayMs: 1,
    send: async () => { calls++; throw new Error('down'); },
    log: { warn: () => undefined, error: (_o, m) => { errors.push(m); } },
  });
  b.push(1);
  b.push(2);
  await b.drain();
  assert.equal(calls, 3);
  assert.equal(b.failed, 1);
  assert.deepEqual(errors, ['Batch Processor[http logger] exceeded the max_retry_count[2] dropping the entries']);
  assert.equal(b.pending, 0);
});

test('a retry that succeeds delivers the same batch', async () => {
  const seen: number[][] = [];
  let calls = 0;
  const b = make({ batchMaxSize: 2, maxRetryCount: 3, send: async (e) => { seen.push([...e]); if (++calls < 3) throw new Error('500'); } }, []);
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
  const b = make({ batchMaxSize: 2, maxPending: 4, send: () => gate, onIdle: () => { idle++; } }, []);
  for (let i = 0; i < 6; i++) b.push(i);
  assert.equal(b.pending, 4);
  assert.equal(b.dropped, 2);
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
