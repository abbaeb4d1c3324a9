import { test } from 'node:test';
import assert from 'node:assert/strict';
import plugin from './redirect.js';
import { makeTestContext, prepareConf, schemaError } from '../../test/helpers/plugin-context-transform.js';

async function run(conf: Record<string, unknown>, init: Parameters<typeof makeTestContext>[0] = {}) {
  const p = prepareConf(plugin, conf);
  return plugin.rewrite!(p, makeTestContext(init));
}

test('declares the authorization stage and priority 190', () => {
  assert.equal(plugin.name, 'redirect');
  assert.equal(plugin.stage, 'authorization');
  assert.equal(plugin.priority, 190);
});

test('uri redirects with the default 302 and resolves $vars', async () => {
  assert.deepEqual(await run({ uri: '/test/default.html' }), { status: 302, headers: { Location: '/test/default.html' } });
  assert.deepEqual(await run({ uri: '/u${uri}?n=$arg_name', ret_code: 301 }, { target: '/x?name=jack' }),
    { status: 301, headers: { Location: '/u/x?n=jack' } });
});

test('regex_uri redirects on a match and passes through otherwise', async () => {
  const conf = { regex_uri: ['^/iresty/(.+)/(.+)', '/$1-$2'] };
  assert.deepEqual(await run(conf, { target: '/iresty/a/b' }), { status: 302, headers: { Location: '/a-b' } });
  assert.equal(await run(conf, { target: '/other' }), undefined);
});

test('http_to_https: 301 for GET/HEAD, 308 otherwise; nothing when already https', async () => {
  assert.deepEqual(await run({ http_to_https: true }, { target: '/p?q=1', host: 'foo.com:9080' }),
    { status: 301, headers: { Location: 'https://foo.com/p?q=1' } });
  assert.deepEqual(await run({ http_to_https: true }, { method: 'POST', target: '/p', host: 'foo.com' }),
    { status: 308, headers: { Location: 'https://foo.com/p' } });
  assert.equal(await run({ http_to_https: true }, { scheme: 'https', host: 'foo.com' }), undefined);
  assert.equal(await run({ http_to_https: true }, { headers: { 'x-forwarded-proto': 'https' } }), undefined);
});

test('encode_uri escapes the path part of the location', async () => {
  assert.deepEqual(await run({ uri: '/a b$uri?x=1 2', encode_uri: true }, { uri: '/é' }),
    { status: 302, headers: { Location: '/a%20b/%C3%A9?x=1 2' } });
});

test('append_query_string adds the client query string', async () => {
  assert.deepEqual(await run({ uri: '/new', append_query_string: true }, { target: '/old?a=1' }),
    { status: 302, headers: { Location: '/new?a=1' } });
  assert.deepEqual(await run({ uri: '/new?b=2', append_query_string: true }, { target: '/old?a=1' }),
    { status: 302, headers: { Location: '/new?b=2&a=1' } });
  assert.deepEqual(await run({ uri: '/new', append_query_string: true }, { target: '/old' }),
    { status: 302, headers: { Location: '/new' } });
});

test('schema: exactly one of uri, regex_uri, http_to_https; errors name the field', () => {
  assert.match(schemaError(plugin, {})!, /value should match only one schema, but matches none/);
  assert.match(schemaError(plugin, { uri: '/a', regex_uri: ['a', 'b'] })!, /only one schema/);
  assert.match(schemaError(plugin, { uri: '/a', ret_code: 100 })!, /property "ret_code" validation failed/);
  assert.equal(schemaError(plugin, { uri: '/a', ret_code: 1000 }), 'property "ret_code" validation failed: expected 1000 to be at most 599');
  assert.match(schemaError(plugin, { regex_uri: ['a'] })!, /property "regex_uri" validation failed/);
  assert.match(schemaError(plugin, { uri: '/a', encode_uri: 'yes' })!, /property "encode_uri" validation failed/);
});

test('prepare refuses http_to_https with append_query_string, and bad regex_uri', () => {
  assert.throws(() => prepareConf(plugin, { http_to_https: true, append_query_string: true }),
    /only one of `http_to_https` and `append_query_string` can be configured/);
  assert.throws(() => prepareConf(plugin, { regex_uri: ['(', '/x'] }), /invalid regex_uri \(\(, \/x\), err:/);
});

test('ret_code with http_to_https is refused: that redirect is always 301 or 308', () => {
  assert.throws(() => prepareConf(plugin, { http_to_https: true, ret_code: 307 }),
    /^Error: ret_code has no effect with http_to_https, which answers 301 \(GET, HEAD\) or 308$/);
  assert.ok(prepareConf(plugin, { http_to_https: true }));
  assert.ok(prepareConf(plugin, { uri: '/a', ret_code: 307 }));
});
