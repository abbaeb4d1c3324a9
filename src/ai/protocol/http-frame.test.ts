import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHttpFrame, parseHttpFrame } from './http-frame.js';

test('header lines, a blank line, the body; read back with names lower-cased and values trimmed', () => {
  const text = formatHttpFrame([[':method', 'POST'], ['content-type', 'text/plain']], 'a\n\nb');
  assert.equal(text, ':method:POST\ncontent-type:text/plain\n\na\n\nb');
  assert.deepEqual(parseHttpFrame(text), { headers: [[':method', 'POST'], ['content-type', 'text/plain']], body: 'a\n\nb' });
  assert.deepEqual(parseHttpFrame('Content-Type: application/json\r\n\r\n{}'), { headers: [['content-type', 'application/json']], body: '{}' });
});

test('not a message: no blank line, a line without a colon, a bad name or value', () => {
  assert.equal(parseHttpFrame('Sorry, I can only chat.'), undefined);
  assert.equal(parseHttpFrame('Here it is\ncontent-type:x\n\nbody'), undefined);
  assert.equal(parseHttpFrame('bad name:x\n\nbody'), undefined);
  assert.equal(parseHttpFrame('x:a\u0000b\n\nbody'), undefined);
  assert.equal(parseHttpFrame('\n\nbody'), undefined);
});
