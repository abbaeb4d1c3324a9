import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerWithReferences, StreamReferences, withReferences } from './references.js';

test('withReferences: head after a leading think block, tail at the end', () => {
  assert.equal(withReferences('Answer', 'R', 'head'), 'R\n\nAnswer');
  assert.equal(withReferences(' <think>hm</think>Answer', 'R', 'head'), ' <think>hm</think>\nR\n\nAnswer');
  assert.equal(withReferences('<think>unfinished', 'R', 'head'), 'R\n\n<think>unfinished');
  assert.equal(withReferences('Answer', 'R', 'tail'), 'Answer\n\nR');
});

test('answerWithReferences changes choices[0].message.content only', () => {
  const body = Buffer.from(JSON.stringify({ choices: [{ message: { content: 'A' } }, { message: { content: 'B' } }] }));
  assert.deepEqual(JSON.parse(answerWithReferences(body, 'R', 'tail')!), { choices: [{ message: { content: 'A\n\nR' } }, { message: { content: 'B' } }] });
  assert.equal(answerWithReferences(Buffer.from('{"error":"x"}'), 'R', 'head'), undefined);
  assert.equal(answerWithReferences(Buffer.from('not json'), 'R', 'head'), undefined);
});

test('StreamReferences: events split across chunks, references added once', () => {
  const chunk = (content: string, finish: string | null = null): string =>
    `data: ${JSON.stringify({ choices: [{ delta: { content }, finish_reason: finish }] })}\n\n`;
  const stream = new StreamReferences('R', 'head');
  const all = chunk('') + chunk('Hel') + chunk('lo', 'stop') + 'data: [DONE]\n\n';
  let out = '';
  for (let i = 0; i < all.length; i += 7) out += stream.push(Buffer.from(all.slice(i, i + 7)));
  out += stream.end();
  const contents = out.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)).choices[0].delta.content);
  assert.deepEqual(contents, ['', 'R\n\nHel', 'lo']);
  assert.ok(out.endsWith('data: [DONE]\n\n'));
});
