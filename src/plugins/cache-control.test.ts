import { test } from 'node:test';
import assert from 'node:assert/strict';
import cacheControl from './cache-control.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

function respond(conf: Record<string, unknown>, uri: string, responseHeaders: Record<string, string> = {}) {
  const ctx = createTestContext({ uri, responseHeaders });
  cacheControl.header_filter!(prepareWith(cacheControl, conf), ctx);
  return ctx;
}

test('schema: expires required, max/epoch/seconds; suffix as Higress `a|b` or a list', () => {
  assert.match(schemaError(cacheControl.schema, {})!, /expires/);
  assert.match(schemaError(cacheControl.schema, { expires: 'soon' })!, /property "expires"/);
  assert.match(schemaError(cacheControl.schema, { expires: -1 })!, /property "expires"/);
  assert.match(schemaError(cacheControl.schema, { expires: '60', suffix: 'jpg||png' })!, /property "suffix"/);
  assert.match(schemaError(cacheControl.schema, { expires: '60', suffix: ['a/b'] })!, /property "suffix"/);
  assert.match(schemaError(cacheControl.schema, { expires: '60', suffix: [''] })!, /property "suffix"/);
  assert.match(schemaError(cacheControl.schema, { expires: '60', suffixes: 'js' })!, /suffixes/);
  for (const conf of [{ expires: 'max' }, { expires: 'epoch' }, { expires: '3600', suffix: 'jpg|png' }, { expires: 0, suffix: ['js', '.css'] }, { expires: '1', suffix: '' }]) {
    assert.equal(schemaError(cacheControl.schema, conf), undefined, JSON.stringify(conf));
  }
});

test('seconds: Expires is now + N as an HTTP date, Cache-Control max-age=N', () => {
  const before = Date.now();
  const ctx = respond({ suffix: 'jpg|png', expires: '3600' }, '/img/logo.png');
  assert.equal(ctx.response.headers['cache-control'], 'max-age=3600');
  const expires = Date.parse(ctx.response.headers.expires!);
  assert.match(ctx.response.headers.expires!, /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  assert.ok(expires >= Math.floor(before / 1000) * 1000 + 3600_000 && expires <= Date.now() + 3600_000);
  assert.equal(ctx.setVars.get('cache_control_applied'), true);
});

test('max and epoch are Higress\'s fixed dates', () => {
  const max = respond({ expires: 'max' }, '/a');
  assert.equal(max.response.headers.expires, 'Thu, 31 Dec 2037 23:55:55 GMT');
  assert.equal(max.response.headers['cache-control'], 'max-age=315360000');
  const epoch = respond({ expires: 'epoch' }, '/a');
  assert.equal(epoch.response.headers.expires, 'Thu, 01 Jan 1970 00:00:01 GMT');
  assert.equal(epoch.response.headers['cache-control'], 'no-cache');
});

test('the suffix follows a dot at the end of the path, case-sensitively; other paths are untouched', () => {
  const conf = { suffix: ['js', '.css'], expires: 60 };
  assert.equal(respond(conf, '/app.js').response.headers['cache-control'], 'max-age=60');
  assert.equal(respond(conf, '/style.css').response.headers['cache-control'], 'max-age=60');
  for (const uri of ['/appjs', '/app.JS', '/app.js/x', '/app.json', '/']) {
    const ctx = respond(conf, uri, { 'cache-control': 'private' });
    assert.equal(ctx.response.headers['cache-control'], 'private', uri);
    assert.equal(ctx.response.headers.expires, undefined, uri);
    assert.equal(ctx.setVars.has('cache_control_applied'), false);
  }
});

test('no suffix (absent or empty) applies to every response, replacing the upstream\'s headers', () => {
  for (const conf of [{ expires: 10 }, { expires: 10, suffix: '' }]) {
    const ctx = respond(conf, '/anything', { 'cache-control': 'no-store', expires: '0' });
    assert.equal(ctx.response.headers['cache-control'], 'max-age=10');
    assert.notEqual(ctx.response.headers.expires, '0');
  }
});
