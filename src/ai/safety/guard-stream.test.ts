import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseGuard } from './guard-stream.js';
import { parseContentPath, textAt, windows } from '../json-path/content-path.js';

const event = (content: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;

function guard(window: number, flag: (text: string) => boolean, checked: string[] = []) {
  return new SseGuard({
    path: parseContentPath('choices.0.delta.content', 'p'), window, maxHeldBytes: 1 << 20,
    check: async (text, context) => { checked.push(context + text); text = context + text; return flag(text) ? 'DENY\n\n' : undefined; },
  });
}

test('content paths: gjson dotted (with @reverse and #) and JSONPath', () => {
  const doc = { messages: [{ content: 'a' }, { content: 'b' }], choices: [{ m: 'x' }, { m: 'y' }] };
  assert.equal(textAt(doc, parseContentPath('messages.@reverse.0.content', 'f')), 'b');
  assert.equal(textAt(doc, parseContentPath('choices.#.m', 'f')), 'x\ny');
  assert.equal(textAt(doc, parseContentPath('$.messages[0].content', 'f')), 'a');
  assert.throws(() => parseContentPath('messages.#(role=="user").content', 'requestContentJsonPath'), /requestContentJsonPath/);
  assert.throws(() => parseContentPath('messages.@reverse.content', 'f'), /needs an index after @reverse/);
  assert.equal(textAt({ 'a.b': ['x'] }, parseContentPath('a\\.b.0', 'f')), 'x', 'an escaped dot, as gjson reads it');
  assert.deepEqual(windows('abcdefg', 3), ['abc', 'cdef', 'fg'], 'each window repeats the end of the one before');
  assert.deepEqual(windows('a😀bc', 2), ['a', 'a😀', '😀bc'], 'a surrogate pair is never split');
});

test('a stream is held until a window of text is unchecked, then released as it came', async () => {
  const checked: string[] = [];
  const g = guard(6, () => false, checked);
  assert.equal(await g.push(Buffer.from(event('abc'))), '', 'held: 3 characters unchecked');
  assert.equal(await g.push(Buffer.from(event('def') + event('g'))), event('abc') + event('def'));
  assert.equal(await g.push(Buffer.from('data: [DONE]\n\n')), event('g') + 'data: [DONE]\n\n');
  assert.deepEqual(checked, ['abcdef', 'defg'], 'the second check repeats the end of the first');
});

test('a flagged window replaces the rest of the stream with the deny events', async () => {
  const g = guard(4, (t) => t.includes('bad'));
  assert.equal(await g.push(Buffer.from(event('fine') + event(' ba'))), event('fine'));
  assert.equal(await g.push(Buffer.from(event('d stuff'))), 'DENY\n\n');
  assert.equal(g.denied, true);
  assert.equal(await g.push(Buffer.from(event('more') + 'data: [DONE]\n\n')), '');
  assert.equal(await g.end(), '');
});

test('events without text pass at once when nothing is held; the end checks what is left', async () => {
  const checked: string[] = [];
  const g = guard(100, () => false, checked);
  const role = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: 'assistant' } }] })}\n\n`;
  assert.equal(await g.push(Buffer.from(role)), role);
  assert.equal(await g.push(Buffer.from(event('hi'))), '');
  assert.equal(await g.end(), event('hi'));
  assert.deepEqual(checked, ['hi']);
});
