import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AiResponseObserver, MAX_ANSWER_CHARS, type AiContext } from './context.js';

function fresh(): AiContext {
  return {
    provider: 'openai', protocol: 'openai-chat', requestModel: 'm', sentModel: 'm', responseModel: undefined,
    stream: true, usage: undefined, timeToFirstTokenMs: undefined, answer: '', answerTruncated: false,
  };
}

test('a streamed answer split anywhere: usage, model, text and time to first token', () => {
  const ai = fresh();
  const o = new AiResponseObserver(ai, performance.now(), 'text/event-stream; charset=utf-8');
  const wire = 'data: {"model":"gpt-x","choices":[{"delta":{"content":"Hel"}}]}\r\n\r\n'
    + ': ping\n\ndata: {"model":"gpt-x","choices":[{"delta":{"content":"lo"}}]}\n\n'
    + 'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}\n\ndata: [DONE]\n\n';
  for (let i = 0; i < wire.length; i += 7) o.chunk(Buffer.from(wire.slice(i, i + 7)));
  o.end();
  assert.equal(ai.answer, 'Hello');
  assert.equal(ai.responseModel, 'gpt-x');
  assert.deepEqual(ai.usage, { prompt: 4, completion: 2, total: 6 });
  assert.equal(typeof ai.timeToFirstTokenMs, 'number');
});

test('a JSON answer is read at its end; embeddings usage has no completion; a total is computed when missing', () => {
  const ai = fresh();
  const o = new AiResponseObserver(ai, performance.now(), 'application/json');
  o.chunk(Buffer.from('{"model":"e","data":[],"usage":{"prompt_tokens":3}'));
  assert.equal(ai.usage, undefined);
  o.chunk(Buffer.from('}'));
  o.end();
  assert.deepEqual(ai.usage, { prompt: 3, completion: 0, total: 3 });
  const chat = fresh();
  const c = new AiResponseObserver(chat, performance.now(), undefined);
  c.chunk(Buffer.from('{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}'));
  c.end();
  assert.deepEqual(chat.usage, { prompt: 1, completion: 2, total: 3 });
  assert.equal(chat.answer, 'hi');
});

test('bounded: the answer text is cut, broken or foreign bodies leave usage unknown', () => {
  const ai = fresh();
  const o = new AiResponseObserver(ai, performance.now(), 'text/event-stream');
  const big = 'x'.repeat(MAX_ANSWER_CHARS);
  o.chunk(Buffer.from(`data: {"choices":[{"delta":{"content":"${big}"}}]}\n\ndata: {"choices":[{"delta":{"content":"more"}}]}\n\n`));
  assert.equal(ai.answer.length, MAX_ANSWER_CHARS);
  assert.equal(ai.answerTruncated, true);
  for (const [type, body] of [['application/json', '{"usage":'], ['text/html', '<p>usage</p>'], ['text/event-stream', 'data: not json\n\n']]) {
    const other = fresh();
    const obs = new AiResponseObserver(other, performance.now(), type);
    obs.chunk(Buffer.from(body!));
    obs.end();
    assert.equal(other.usage, undefined, type);
  }
});
