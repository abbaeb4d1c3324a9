import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactPaths, secretPaths } from '../plugin-runtime/secret-fields.js';
import aiProxy from './ai-proxy.js';

test('auth headers and query arguments are secrets: masked for readers without the admin role', () => {
  const conf = { provider: 'openai', auth: { header: { Authorization: 'Bearer sk-1' }, query: { key: 'k' } }, options: { model: 'm' } };
  assert.deepEqual(redactPaths(conf, secretPaths(aiProxy.schema)),
    { provider: 'openai', auth: { header: '******', query: '******' }, options: { model: 'm' } });
});
