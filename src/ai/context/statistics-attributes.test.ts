import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttributeValues, compileAttributes } from './statistics-attributes.js';

const stream = (rule: 'first' | 'replace' | 'append') =>
  ({ key: rule, value_source: 'response_streaming_body' as const, value: 'choices.0.delta.content', rule, apply_to_log: true });

test('streamed values by rule, cut to the limit while appended; defaults for what never came', () => {
  const values = new AttributeValues(compileAttributes([stream('first'), stream('replace'), stream('append'),
    { key: 'finish', value_source: 'response_body', value: 'choices.0.finish_reason', default_value: 'none', apply_to_log: true }]), 6);
  for (const word of ['ab', 'cd', 'efgh']) values.message({ choices: [{ delta: { content: word } }] }, true);
  values.message({ choices: [] }, true);
  values.finish(undefined);
  assert.deepEqual(Object.fromEntries(values.values), { first: 'ab', replace: 'efgh', append: 'abcdef', finish: 'none' });
});

test('only apply_to_log attributes are kept; span attributes and misplaced rules are refused', () => {
  assert.deepEqual(compileAttributes([{ key: 'a', value_source: 'fixed_value', value: 'x' }]), []);
  assert.throws(() => compileAttributes([{ key: 'a', value_source: 'fixed_value', value: 'x', apply_to_span: true }]), /attributes\[0\]\.apply_to_span/);
  assert.throws(() => compileAttributes([{ key: 'a', value_source: 'request_body', value: 'x', rule: 'append' }]), /attributes\[0\]\.rule/);
  assert.deepEqual(compileAttributes([{ key: 'question', apply_to_log: true }]), [{ key: 'question', source: 'question' }]);
});
