import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectProtocol } from './proxy.js';

test('protocol detection in APISIX\'s order', () => {
  assert.equal(detectProtocol({ messages: [], input: 'x' }, '/v1/chat/completions'), 'openai-chat');
  assert.equal(detectProtocol({ input: 'x' }, '/v1/embeddings'), 'openai-embeddings');
  assert.equal(detectProtocol({ input: 'x' }, '/v1/responses'), 'openai-responses');
  assert.equal(detectProtocol({ messages: [] }, '/model/x/converse'), 'bedrock-converse');
  assert.equal(detectProtocol({ messages: [] }, '/v1/messages'), 'anthropic-messages');
  assert.equal(detectProtocol({ prompt: 'x' }, '/v1/completions'), 'passthrough');
  assert.equal(detectProtocol({}, '/v1/chat/completions'), undefined);
});
