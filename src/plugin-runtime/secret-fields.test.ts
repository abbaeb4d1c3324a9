import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Plugin } from '../contracts/plugin.js';
import basicAuth from '../plugins/basic-auth.js';
import jwtAuth from '../plugins/jwt-auth.js';
import keyAuth from '../plugins/key-auth.js';
import httpLogger from '../plugins/http-logger.js';
import opentelemetry from '../plugins/opentelemetry.js';
import { REDACTED, redactPluginSecrets, secretPaths } from './secret-fields.js';

const plugins = new Map<string, Plugin>([keyAuth, basicAuth, jwtAuth].map((p) => [p.name, p as Plugin]));

test('the built-in auth plugins mark their credential fields encrypted', () => {
  assert.deepEqual(secretPaths(keyAuth.consumerSchema!), [['key']]);
  assert.deepEqual(secretPaths(basicAuth.consumerSchema!), [['password']]);
  assert.deepEqual(secretPaths(jwtAuth.consumerSchema!), [['secret']]);
});

test('a logger\'s credential is a secret too: http-logger auth_header', () => {
  assert.deepEqual(secretPaths(httpLogger.schema as Record<string, unknown>), [['auth_header']]);
});

test('plugin metadata is masked by the plugin\'s metadata schema: opentelemetry collector.request_headers', () => {
  const md = { id: 'opentelemetry', collector: { address: 'otel:4318', request_headers: { authorization: 'Bearer t0ken' } } };
  const masked = redactPluginSecrets({ opentelemetry: md }, (n) => (n === 'opentelemetry' ? opentelemetry as Plugin : undefined), 'metadata');
  assert.deepEqual(masked.opentelemetry, { id: 'opentelemetry', collector: { address: 'otel:4318', request_headers: '******' } });
  assert.equal(md.collector.request_headers.authorization, 'Bearer t0ken');
  // a plugin without a metadata schema, or not installed
  assert.deepEqual(redactPluginSecrets({ 'key-auth': { id: 'key-auth', x: 1 } }, (n) => plugins.get(n), 'metadata'), { 'key-auth': { id: 'key-auth', x: 1 } });
  assert.deepEqual(redactPluginSecrets({ gone: { id: 'gone' } }, () => undefined, 'metadata'), { gone: '******' });
});

test('nested and branch-declared secrets are found', () => {
  const schema = {
    type: 'object',
    properties: { auth: { type: 'object', properties: { token: { type: 'string', encrypted: true } } } },
    oneOf: [{ properties: { password: { type: 'string', encrypted: true } } }],
  };
  assert.deepEqual(secretPaths(schema).sort(), [['auth', 'token'], ['password']]);
});

test('secret values are masked in a copy; other fields, absent secrets and the input stay as they are', () => {
  const input = {
    'key-auth': { key: 'k' },
    'basic-auth': { username: 'u', password: 'p' },
    'jwt-auth': { key: 'id', algorithm: 'RS256', public_key: 'pem' },
  };
  const out = redactPluginSecrets(input, (n) => plugins.get(n), 'consumer');
  assert.deepEqual(out, {
    'key-auth': { key: REDACTED },
    'basic-auth': { username: 'u', password: REDACTED },
    'jwt-auth': { key: 'id', algorithm: 'RS256', public_key: 'pem' },
  });
  assert.equal(input['key-auth'].key, 'k');
});

test('a plugin that is not installed is masked whole', () => {
  assert.deepEqual(redactPluginSecrets({ 'gone-auth': { token: 't' } }, () => undefined, 'consumer'), { 'gone-auth': REDACTED });
});

test('secrets inside array items are found and masked in every item', () => {
  const schema = {
    type: 'object',
    properties: {
      consumers: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, client_secret: { type: 'string', encrypted: true } } } },
    },
  };
  assert.deepEqual(secretPaths(schema), [['consumers', '[]', 'client_secret']]);
  const plugin = { name: 'x', version: 1, stage: 'default', priority: 0, schema } as unknown as Plugin;
  const input = { x: { consumers: [{ name: 'a', client_secret: 's1' }, { name: 'b' }, 'odd'] } };
  assert.deepEqual(redactPluginSecrets(input, () => plugin, 'default'),
    { x: { consumers: [{ name: 'a', client_secret: REDACTED }, { name: 'b' }, 'odd'] } });
  assert.equal((input.x.consumers[0] as { client_secret: string }).client_secret, 's1');
});
