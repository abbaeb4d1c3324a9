import { test } from 'node:test';
import assert from 'node:assert/strict';
import { embeddingFromReply } from './provider.js';

test('embeddingFromReply reads data[0].embedding, and only an array of numbers', () => {
  const reply = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  assert.deepEqual(embeddingFromReply(reply({ data: [{ embedding: [1, -0.5] }, { embedding: [2] }] })), [1, -0.5]);
  for (const bad of [{ data: [] }, { data: [{ embedding: [] }] }, { data: [{ embedding: ['1'] }] }, { data: [null] }, { data: {} }, null, [1]]) {
    assert.equal(embeddingFromReply(reply(bad)), undefined, JSON.stringify(bad));
  }
  assert.equal(embeddingFromReply(Buffer.from('not json')), undefined);
});
