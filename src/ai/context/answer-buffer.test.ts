import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerBuffer } from './answer-buffer.js';

test('an answer is held to its end, then finished whole', () => {
  const b = new AnswerBuffer(10);
  const finish = (a: Buffer) => `<${a.toString()}>`;
  assert.equal(b.push(Buffer.from('abc'), false, finish, () => assert.fail()).length, 0);
  assert.equal(b.push(Buffer.from('def'), true, finish, () => assert.fail()), '<abcdef>');
});

test('past the bound what was held goes on, later chunks as they come, unread', () => {
  const b = new AnswerBuffer(4);
  let overflowed = 0;
  const finish = () => assert.fail('not read');
  b.push(Buffer.from('abc'), false, finish, () => overflowed++);
  assert.equal(String(b.push(Buffer.from('de'), false, finish, () => overflowed++)), 'abcde');
  assert.equal(String(b.push(Buffer.from('f'), true, finish, () => overflowed++)), 'f');
  assert.equal(overflowed, 1);
});
