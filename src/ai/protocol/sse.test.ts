import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, formatSse, type SseEvent } from './sse.js';

function feed(parts: (string | Buffer)[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const part of parts) out.push(...p.push(part));
  out.push(...p.end());
  return out;
}

test('events split anywhere, CRLF split across chunks, comments and unknown fields', () => {
  const wire = ': ping\r\nevent: delta\r\ndata: {"a":1}\r\nx-unknown: 1\r\n\r\ndata: line1\ndata: line2\n\ndata:[DONE]\n\n';
  const whole = feed([wire]);
  assert.deepEqual(whole, [
    { event: 'delta', data: '{"a":1}' },
    { data: 'line1\nline2' },
    { data: '[DONE]' },
  ]);
  for (let i = 1; i < wire.length; i++) {
    assert.deepEqual(feed([wire.slice(0, i), wire.slice(i)]), whole, `split at ${i}`);
  }
  // one byte at a time, through Buffers
  assert.deepEqual(feed([...Buffer.from(wire)].map((b) => Buffer.from([b]))), whole);
});

test('a multi-byte character split across chunks is decoded whole', () => {
  const bytes = Buffer.from('data: 你好\n\n');
  assert.deepEqual(feed([bytes.subarray(0, 8), bytes.subarray(8)]), [{ data: '你好' }]);
});

test('a last event without its blank line is dispatched at the end', () => {
  assert.deepEqual(feed(['data: tail']), [{ data: 'tail' }]);
});

test('an event over the bound throws instead of buffering on', () => {
  const p = new SseParser(100);
  assert.throws(() => p.push(`data: ${'x'.repeat(200)}`), /larger than 100/);
  const q = new SseParser(100);
  assert.throws(() => { for (let i = 0; i < 20; i++) q.push('data: 0123456789\n'); }, /larger than 100/);
});

test('formatSse writes what the parser reads back', () => {
  const e: SseEvent = { event: 'message_delta', id: '7', data: 'a\nb' };
  assert.equal(formatSse(e), 'event: message_delta\nid: 7\ndata: a\ndata: b\n\n');
  assert.deepEqual(feed([formatSse(e)]), [e]);
});
