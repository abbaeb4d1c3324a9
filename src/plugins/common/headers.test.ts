import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSchema, compileSchema } from '../../core/schema.js';
import type { Plugin } from '../../contracts/plugin.js';
import cors from '../cors.js';
import faultInjection from '../fault-injection.js';
import httpLogger from '../http-logger.js';
import jwtAuth from '../jwt-auth.js';
import keyAuth from '../key-auth.js';
import limitCount from '../limit-count.js';
import mocking from '../mocking.js';
import proxyRewrite from '../proxy-rewrite.js';
import redirect from '../redirect.js';
import { HEADER_NAME_SCHEMA, HEADER_TEXT_SCHEMA, headerMapSchema } from './headers.js';
import { schemaError } from '../../../test/helpers/plugin-context-transform.js';

const check = (schema: Record<string, unknown>, v: unknown): string | undefined => checkSchema(compileSchema(schema), v);

test('header name and value schemas refuse CR, LF, NUL and (names) spaces and colons; tabs stay allowed in values', () => {
  for (const bad of ['a\r', 'a\nb', 'a\u0000', 'a b', 'a:b', '']) assert.ok(check(HEADER_NAME_SCHEMA, bad) !== undefined, JSON.stringify(bad));
  assert.equal(check(HEADER_NAME_SCHEMA, 'X-Request-Id'), undefined);
  for (const bad of ['a\r', 'a\nb', 'a\u0000', '\u007f']) assert.ok(check(HEADER_TEXT_SCHEMA, bad) !== undefined, JSON.stringify(bad));
  assert.equal(check(HEADER_TEXT_SCHEMA, 'a\tb c:d'), undefined);
  assert.match(check(headerMapSchema(), { 'x\ny': 'v' })!, /invalid property name "x\\ny"/);
  assert.equal(check(headerMapSchema(), { 'x-y': 'v', 'x-n': 2 }), undefined);
});

test('every plugin field that becomes a header refuses CR and LF, naming the field', () => {
  const cases: [Plugin, Record<string, unknown>, string][] = [
    [mocking, { response_example: 'x', response_headers: { 'X-A': 'a\r\nb' } }, 'response_headers.X-A'],
    [mocking, { response_example: 'x', content_type: 'text/plain\r\nX: y' }, 'content_type'],
    [faultInjection, { abort: { http_status: 403, headers: { 'X-A': 'a\nb' } } }, 'abort.headers.X-A'],
    [keyAuth, { header: 'apikey\r\n' }, 'header'],
    [jwtAuth, { header: 'auth\nx' }, 'header'],
    [httpLogger, { uri: 'http://127.0.0.1:1', auth_header: 'Bearer x\r\nX: y' }, 'auth_header'],
    [cors, { allow_headers: 'x\r\ny' }, 'allow_headers'],
    [cors, { expose_headers: 'x\ny' }, 'expose_headers'],
    [cors, { allow_methods: 'GET\r\n' }, 'allow_methods'],
    [cors, { allow_origins: 'http://a.test\r\nX: y' }, 'allow_origins'],
    [redirect, { uri: '/a\r\nSet-Cookie: x=y' }, 'uri'],
    [redirect, { regex_uri: ['^/a', '/b\r\nX: y'] }, 'regex_uri'],
    [proxyRewrite, { uri: '/a\r\nX: y' }, 'uri'],
    [proxyRewrite, { regex_uri: ['^/a', '/b\nX'] }, 'regex_uri'],
  ];
  for (const [plugin, conf, field] of cases) {
    const err = schemaError(plugin, conf);
    assert.ok(err !== undefined && err.startsWith(`property "${field}" validation failed`), `${plugin.name} ${field}: ${String(err)}`);
  }
  const md = checkSchema(compileSchema(limitCount.metadataSchema!), { limit_header: 'X-Limit\r\n' });
  assert.match(md!, /property "limit_header" validation failed/);
});
