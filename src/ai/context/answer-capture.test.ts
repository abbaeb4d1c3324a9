import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerCapture } from './answer-capture.js';
import { parseGjsonPath } from '../json-path/gjson-path.js';
import { cosineDistance } from '../cache/semantic-cache.js';

const value = parseGjsonPath('choices.0.message.content', 'v');
const streamValue = parseGjsonPath('choices.0.delta.content', 's');
const sse = (o: unknown): string => `data: ${typeof o === 'string' ? o : JSON.stringify(o)}\n\n`;
const delta = (content: string, finish: string | null = null) => ({ choices: [{ index: 0, delta: { content }, finish_reason: finish }] });

function capture(type: string, ...chunks: string[]) {
  const c = new AnswerCapture(type, value, streamValue);
  for (const chunk of chunks) c.chunk(Buffer.from(chunk));
  return c.end();
}

test('a JSON answer: the text at cacheValueFrom, even split across chunks', () => {
  const body = JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'Hi there' }, finish_reason: 'stop' }] });
  assert.deepEqual(capture('application/json', body.slice(0, 10), body.slice(10)), { ok: true, answer: 'Hi there' });
});

test('a stream: the deltas joined, events split anywhere', () => {
  const text = sse(delta('Hel')) + sse(delta('lo')) + sse(delta('', 'stop')) + sse('[DONE]');
  assert.deepEqual(capture('text/event-stream; charset=utf-8', text.slice(0, 7), text.slice(7, 50), text.slice(50)), { ok: true, answer: 'Hello' });
});

test('what is never stored: tool calls, errors, cut-short answers, unfinished streams, empty answers', () => {
  const json = (o: unknown): string => JSON.stringify(o);
  const cases: [string, string][] = [
    ['application/json', json({ choices: [{ message: { content: 'x', tool_calls: [{ id: 'c' }] }, finish_reason: 'tool_calls' }] })],
    ['application/json', json({ choices: [{ message: { content: 'x' }, finish_reason: 'length' }] })],
    ['application/json', json({ error: { message: 'boom' } })],
    ['application/json', json({ choices: [{ message: { content: '' } }] })],
    ['application/json', 'not json'],
    ['text/plain', 'hello'],
    ['text/event-stream', sse(delta('partial'))],
    ['text/event-stream', sse({ choices: [{ delta: { tool_calls: [{ index: 0 }] } }] }) + sse('[DONE]')],
    ['text/event-stream', sse(delta('x')) + sse({ error: { message: 'overloaded' } }) + sse('[DONE]')],
  ];
  for (const [type, body] of cases) assert.equal(capture(type, body).ok, false, body);
});

test('cosine distance: 0 for the same direction, 1 orthogonal, 2 opposite or unusable', () => {
  assert.equal(cosineDistance([1, 0], [2, 0]), 0);
  assert.equal(cosineDistance([1, 0], [0, 3]), 1);
  assert.equal(cosineDistance([1, 0], [-1, 0]), 2);
  assert.equal(cosineDistance([0, 0], [1, 0]), 2);
  assert.equal(cosineDistance([1], [1, 0]), 2);
});
