import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { deadline, withDeadline } from './deadline.js';

test('a deadline aborts with a TimeoutError once its time is up', async () => {
  const d = deadline(20);
  assert.equal(d.signal.aborted, false);
  await sleep(60);
  assert.equal(d.signal.aborted, true);
  assert.equal((d.signal.reason as DOMException).name, 'TimeoutError');
});

test('a cleared deadline never aborts, and no longer follows its parent', async () => {
  const parent = new AbortController();
  const d = deadline(20, parent.signal);
  d.clear();
  parent.abort(new Error('client gone'));
  await sleep(60);
  assert.equal(d.signal.aborted, false);
});

test('the parent aborting aborts the deadline with its reason, also when it had already aborted', () => {
  const parent = new AbortController();
  const d = deadline(10_000, parent.signal);
  const reason = new Error('client gone');
  parent.abort(reason);
  assert.equal(d.signal.aborted, true);
  assert.equal(d.signal.reason, reason);
  d.clear();
  const late = deadline(10_000, parent.signal);
  assert.equal(late.signal.reason, reason);
});

test('withDeadline clears its timer whether the call resolves or throws', async () => {
  let seen: AbortSignal | undefined;
  assert.equal(await withDeadline(30, async (s) => { seen = s; return 7; }), 7);
  await assert.rejects(withDeadline(30, async (s) => { seen = s; throw new Error('boom'); }), /boom/);
  await sleep(80);
  assert.equal(seen!.aborted, false);
});
