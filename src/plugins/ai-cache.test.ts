import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseQuestion } from './ai-cache.js';

test('a question is normalised: trimmed, whitespace runs made one space, case kept', () => {
  assert.equal(normaliseQuestion('  What  is\tthe\n\ncapital?  '), 'What is the capital?');
  assert.equal(normaliseQuestion('ABC abc'), 'ABC abc');
  assert.equal(normaliseQuestion(' \n '), '');
});
