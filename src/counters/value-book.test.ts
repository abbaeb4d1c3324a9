import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CounterService } from './counter-service.js';
import { CounterTable, LocalCounterStore } from './counter-table.js';
import { IpcCounterStore } from './ipc-store.js';
import { MemoryValueBook, SqliteValueBook, VALUE_FILE, type ValueBook } from './value-book.js';
import { channelTo } from '../../test/helpers/counter-channel.js';

function exercise(book: ValueBook): void {
  assert.equal(book.get('k'), 0, 'none is 0');
  assert.equal(book.add('k', -8), -8, 'a charge before any quota goes below 0, as DECRBY does');
  book.set('k', 100);
  assert.equal(book.add('k', -30), 70);
  assert.equal(book.add('k', 5), 75);
  assert.equal(book.get('k'), 75);
  assert.equal(book.get('other'), 0);
}

test('the memory book: get, set, add', () => exercise(new MemoryValueBook()));

test('the file book keeps its values across a reopen, and is created by the first operation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'value-book-'));
  try {
    const book = SqliteValueBook.inDataDir(join(dir, 'data'));
    assert.equal(book.file, join(dir, 'data', VALUE_FILE));
    exercise(book);
    book.close();
    const reopened = SqliteValueBook.inDataDir(join(dir, 'data'));
    assert.equal(reopened.get('k'), 75);
    assert.equal(reopened.add('k', -75), 0);
    reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('workers reach the primary\'s book over IPC; a failing book is an error, never a silent success', async () => {
  const book = new MemoryValueBook();
  const svc = new CounterService(new CounterTable(undefined, undefined, book));
  const w1 = new IpcCounterStore(channelTo(svc, 1));
  const w2 = new IpcCounterStore(channelTo(svc, 2));
  await w1.setValue('q', 20);
  assert.deepEqual(await Promise.all([w1.addValue('q', -8), w2.getValue('none')]), [12, 0]);
  assert.equal(await w2.addValue('q', -8), 4);
  assert.equal(await w1.getValue('q'), 4);
  assert.equal(book.get('q'), 4);

  const broken = new CounterService(new CounterTable(undefined, undefined, {
    get: () => { throw new Error('disk I/O error'); }, set: () => { throw new Error('disk I/O error'); }, add: () => { throw new Error('disk I/O error'); },
  }));
  const w = new IpcCounterStore(channelTo(broken, 1));
  await assert.rejects(w.setValue('q', 1), /value book failed: disk I\/O error/);
  await assert.rejects(w.getValue('q'), /disk I\/O error/);
});

test('a process without a primary keeps its values itself', async () => {
  const store = new LocalCounterStore();
  await store.setValue('q', 3);
  assert.equal(await store.addValue('q', -5), -2);
  assert.equal(await store.getValue('q'), -2);
});
