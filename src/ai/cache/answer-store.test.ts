import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { attachAnswerStoreService, IpcAnswerStore, MemoryAnswerStore } from './answer-store.js';

test('the memory table evicts the least recently used answer past its entry bound', () => {
  const t = new MemoryAnswerStore(2, 1_000);
  t.store('a', 'A', 0);
  t.store('b', 'B', 0);
  assert.equal(t.lookup('a'), 'A'); // a is now the most recent
  t.store('c', 'C', 0);
  assert.equal(t.lookup('b'), undefined);
  assert.equal(t.lookup('a'), 'A');
  assert.equal(t.lookup('c'), 'C');
});

test('the memory table is bounded by characters, and an answer larger than the bound is not kept', () => {
  const t = new MemoryAnswerStore(100, 10);
  t.store('k1', 'xxxx', 0);
  t.store('k2', 'yyyy', 0);
  assert.equal(t.lookup('k1'), undefined, 'k1 went to make room');
  assert.equal(t.lookup('k2'), 'yyyy');
  t.store('big', 'z'.repeat(20), 0);
  assert.equal(t.lookup('big'), undefined);
  assert.equal(t.lookup('k2'), 'yyyy');
});

test('an answer expires after its TTL; 0 keeps it', () => {
  let now = 1_000;
  const t = new MemoryAnswerStore(10, 1_000, () => now);
  t.store('short', 's', 5);
  t.store('kept', 'k', 0);
  now += 4_999;
  assert.equal(t.lookup('short'), 's');
  now += 1;
  assert.equal(t.lookup('short'), undefined);
  assert.equal(t.size, 1);
  now += 1e9;
  assert.equal(t.lookup('kept'), 'k');
});

test('a worker reads and writes the primary\'s table over its channel', async () => {
  const toPrimary = new EventEmitter();
  const toWorker = new EventEmitter();
  const worker = { isConnected: () => true, send: (m: unknown) => { toWorker.emit('message', m); } };
  const primary = { on: (_e: string, fn: (w: unknown, m: unknown) => void) => { toPrimary.on('message', (m) => fn(worker, m)); } };
  const tables = attachAnswerStoreService(primary as never);
  const channel = { send: (m: unknown) => toPrimary.emit('message', m), onMessage: (fn: (m: unknown) => void) => { toWorker.on('message', fn); } };
  const store = new IpcAnswerStore(channel);
  const histories = new IpcAnswerStore(channel, 'ai-history');
  await store.set('q', 'answer', 0);
  assert.equal(tables['ai-cache'].lookup('q'), 'answer');
  assert.equal(await store.get('q'), 'answer');
  assert.equal(await store.get('other'), undefined);
  assert.equal(await histories.get('q'), undefined, 'each plugin has its own table');
  await histories.set('q', '[]', 0);
  assert.equal(tables['ai-history'].lookup('q'), '[]');
  assert.equal(await histories.get('q'), '[]');
  assert.equal(await store.get('q'), 'answer');
});

test('a primary that does not answer is a miss, in bounded time', async () => {
  const store = new IpcAnswerStore({ send: () => undefined, onMessage: () => undefined });
  const keepAlive = setTimeout(() => undefined, 5_000); // the wait's own timer does not hold the process
  const started = Date.now();
  assert.equal(await store.get('q'), undefined);
  assert.ok(Date.now() - started < 3_000);
  clearTimeout(keepAlive);
});
