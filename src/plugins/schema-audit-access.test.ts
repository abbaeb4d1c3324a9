// A field these plugins do not know would be accepted and ignored (a typo such as
// `hide_credential` silently leaving the credential in place): every one of them refuses
// unknown fields, at the top and in nested objects, naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Plugin } from '../contracts/plugin.js';
import basicAuth from './basic-auth.js';
import consumerRestriction from './consumer-restriction.js';
import cors from './cors.js';
import faultInjection from './fault-injection.js';
import ipRestriction from './ip-restriction.js';
import jwtAuth from './jwt-auth.js';
import keyAuth from './key-auth.js';
import mocking from './mocking.js';
import realIp from './real-ip.js';
import redirect from './redirect.js';
import requestId from './request-id.js';
import { schemaError } from '../../test/helpers/plugin-context.js';

/** Each plugin with the smallest valid configuration. */
const MINIMAL: [Plugin, Record<string, unknown>][] = [
  [basicAuth, {}],
  [keyAuth, {}],
  [jwtAuth, {}],
  [consumerRestriction, { whitelist: ['jack'] }],
  [ipRestriction, { whitelist: ['10.0.0.1'] }],
  [cors, {}],
  [realIp, { source: 'http_x_real_ip' }],
  [requestId, {}],
  [redirect, { uri: '/new' }],
  [faultInjection, { abort: { http_status: 500 } }],
  [mocking, { response_example: 'x' }],
];

test('every audited plugin refuses an unknown top-level field, naming it', () => {
  for (const [plugin, conf] of MINIMAL) {
    assert.equal(schemaError(plugin.schema, conf), undefined, plugin.name);
    assert.equal(schemaError(plugin.schema, { ...conf, hide_credential: true }), 'additional properties forbidden, found hide_credential', plugin.name);
  }
});

test('the auth plugins refuse unknown consumer fields, naming them (APISIX 2.x jwt-auth private_key, exp)', () => {
  assert.equal(schemaError(keyAuth.consumerSchema, { key: 'k', keys: ['a'] }), 'additional properties forbidden, found keys');
  assert.equal(schemaError(basicAuth.consumerSchema, { username: 'u', password: 'p', pasword: 'p' }), 'additional properties forbidden, found pasword');
  assert.equal(schemaError(jwtAuth.consumerSchema, { key: 'k', algorithm: 'RS256', public_key: 'pem', private_key: 'pem' }),
    'additional properties forbidden, found private_key');
});

test('nested objects refuse unknown fields too', () => {
  assert.equal(schemaError(faultInjection.schema, { delay: { duration: 1, percent: 50 } }),
    'property "delay" validation failed: additional properties forbidden, found percent');
  assert.equal(schemaError(faultInjection.schema, { abort: { http_status: 500, header: {} } }),
    'property "abort" validation failed: additional properties forbidden, found header');
  assert.equal(schemaError(requestId.schema, { algorithm: 'range_id', range_id: { size: 8 } }),
    'property "range_id" validation failed: additional properties forbidden, found size');
  assert.equal(schemaError(consumerRestriction.schema, { allowed_by_methods: [{ user: 'a', methods: ['GET'], method: 'POST' }] }),
    'property "allowed_by_methods" validation failed: failed to validate item 1: additional properties forbidden, found method');
});
