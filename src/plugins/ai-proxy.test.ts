import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactPaths, secretPaths } from '../plugin-runtime/secret-fields.js';
import aiProxy, { detectProtocol } from './ai-proxy.js';

test('auth headers and query arguments are secrets: masked for readers without the admin role', () => {
  const conf = { provider: 'openai', auth: { header: { Authorization: 'Bearer sk-1' }, query: { key: 'k' } }, options: { model: 'm' } };
  assert.deepEqual(redactPaths(conf, secretPaths(aiProxy.schema)),
    { provider: 'openai', auth: { header: '******', query: '******' }, options: { model: 'm' } });
});

test('protocol detection in APISIX\'s order', () => {
  assert.equal(detectProtocol({ messages: [], input: 'x' }, '/v1/chat/completions'), 'openai-chat');
  assert.equal(detectProtocol({ input: 'x' }, '/v1/embeddings'), 'openai-embeddings');
  assert.equal(detectProtocol({ input: 'x' }, '/v1/responses'), 'openai-responses');
  assert.equal(detectProtocol({ messages: [] }, '/model/x/converse'), 'bedrock-converse');
  assert.equal(detectProtocol({ messages: [] }, '/v1/messages'), 'anthropic-messages');
  assert.equal(detectProtocol({ prompt: 'x' }, '/v1/completions'), 'passthrough');
  assert.equal(detectProtocol({}, '/v1/chat/completions'), undefined);
});
