import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileModelMapping, isPlainHeaderValue, modelPattern, pathSuffixMatcher } from './model-names.js';

test('model mapping: exact first, then prefixes in alphabetical order, then *; an empty target keeps the name', () => {
  const map = compileModelMapping({ '*': 'qwen-turbo', 'gpt-4o': 'qwen-vl-plus', 'gpt-4-*': 'qwen-max', 'gpt-*': 'qwen-plus', 'keep-*': '' });
  assert.equal(map('gpt-4o'), 'qwen-vl-plus');
  // the keys sort with their "*" ("*" is 0x2A, before "4"): "gpt-*" comes first and takes gpt-4-turbo, as in Higress
  assert.equal(map('gpt-4-turbo'), 'qwen-plus');
  assert.equal(map('gpt-3.5'), 'qwen-plus');
  assert.equal(compileModelMapping({ 'gpt-4-*': 'qwen-max', 'gpt-4o*': 'qwen-vl' })('gpt-4-turbo'), 'qwen-max');
  assert.equal(map('keep-me'), '');
  assert.equal(map('llama'), 'qwen-turbo');
  assert.equal(map(''), 'qwen-turbo', 'a body without a model gets the default too');
  // alphabetical, not the order written: "a*" is tried before "ab*" whatever the config order
  assert.equal(compileModelMapping({ 'ab*': 'second', 'a*': 'first' })('abc'), 'first');
  assert.equal(compileModelMapping({})('gpt-4o'), '');
});

test('model patterns and path suffixes', () => {
  assert.ok(modelPattern('*')(''));
  assert.ok(modelPattern('openai/*')('openai/gpt-4o'));
  assert.ok(!modelPattern('openai/*')('qwen'));
  assert.ok(modelPattern('qwen')('qwen'));
  assert.ok(!modelPattern('qwen')('qwen-max'));
  const on = pathSuffixMatcher(['/completions', '/embeddings']);
  assert.ok(on('/v1/chat/completions'));
  assert.ok(!on('/v1/models'));
  assert.ok(pathSuffixMatcher(['/x', '*'])('/anything'));
  assert.ok(!pathSuffixMatcher([])('/v1/chat/completions'));
});

test('only printable ASCII model names travel as header values', () => {
  assert.ok(isPlainHeaderValue('openai/gpt-4o'));
  assert.ok(!isPlainHeaderValue('a\r\nx-evil: 1'));
  assert.ok(!isPlainHeaderValue('通义千问'));
});
