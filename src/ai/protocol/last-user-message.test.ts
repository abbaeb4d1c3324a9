import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastUserMessage } from './last-user-message.js';

test('the last user message: a string content, or the last text part of a multimodal one', () => {
  assert.equal(lastUserMessage([{ role: 'user', content: 'first' }, { role: 'assistant', content: 'x' }, { role: 'user', content: 'second' }]), 'second');
  assert.equal(lastUserMessage([{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'image_url' }, { type: 'text', text: 'b' }] }]), 'b');
  assert.equal(lastUserMessage([{ role: 'user', content: 'kept' }, { role: 'user', content: [{ type: 'image_url' }] }]), 'kept',
    'as Higress: a message without a text part leaves the previous text');
  assert.equal(lastUserMessage([{ role: 'user', content: 'x' }, { role: 'user', content: null }]), '');
  assert.equal(lastUserMessage([{ role: 'system', content: 'x' }, null, 3]), '');
  assert.equal(lastUserMessage(undefined), '');
});
