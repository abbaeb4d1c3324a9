import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestContext } from '../../../test/helpers/plugin-context.js';
import { watchAiChunk, watchAiResponse, watchedAiContext } from './usage-watch.js';

const WIRE = 'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\ndata: {"choices":[{"delta":{"content":"lo"}}]}\n\n'
  + 'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}\n\ndata: [DONE]\n\n';

test('two plugins watching a plain upstream\'s stream: it is read once, by the one that started', () => {
  const ctx = createTestContext({ responseHeaders: { 'content-type': 'text/event-stream' } });
  for (const owner of ['ai-quota', 'ai-history']) watchAiResponse(ctx, owner);
  const chunks = [WIRE.slice(0, 30), WIRE.slice(30)];
  chunks.forEach((c, i) => {
    for (const owner of ['ai-history', 'ai-quota']) watchAiChunk(ctx, owner, Buffer.from(c), i === chunks.length - 1);
  });
  const ai = watchedAiContext(ctx);
  assert.equal(ai?.answer, 'Hello');
  assert.deepEqual(ai?.usage, { prompt: 4, completion: 2, total: 6 });
  assert.equal(ai?.stream, true);
});

test('an answer cut short is read at log time as far as it came', () => {
  const ctx = createTestContext({ responseHeaders: { 'content-type': 'application/json' } });
  watchAiResponse(ctx, 'ai-quota');
  watchAiChunk(ctx, 'ai-quota', Buffer.from('{"choices":[{"message":{"content":"Hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}'), false);
  assert.equal(watchedAiContext(ctx)?.usage?.total, 2);
});
