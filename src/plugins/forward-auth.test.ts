import { test } from 'node:test';
import assert from 'node:assert/strict';
import fa from './forward-auth.js';
import { prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

test('schema: APISIX fields, defaults and bounds', () => {
  assert.match(schemaError(fa.schema, {})!, /property "uri" is required/);
  assert.match(schemaError(fa.schema, { uri: 'http://a', timeout: 60001 })!, /property "timeout" validation failed/);
  assert.match(schemaError(fa.schema, { uri: 'http://a', request_headers: ['bad name'] })!, /property "request_headers/);
  assert.match(schemaError(fa.schema, { uri: 'http://a', extra: 1 })!, /extra/);
  const { conf } = prepareWith(fa, { uri: 'https://auth.internal/verify' });
  assert.equal(conf.request_method, 'GET');
  assert.equal(conf.status_on_error, 403);
  assert.equal(conf.timeout, 3000);
});

test('header lists are lower-cased; X-Forwarded-* cannot be taken from the client', () => {
  const p = prepareWith(fa, { uri: 'http://a', request_headers: ['Authorization', 'X-Forwarded-Uri'], upstream_headers: ['X-User'] });
  assert.deepEqual(p.requestHeaders, ['authorization']);
  assert.deepEqual(p.upstreamHeaders, ['x-user']);
});
