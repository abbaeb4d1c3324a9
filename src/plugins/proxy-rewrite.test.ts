import { test } from 'node:test';
import assert from 'node:assert/strict';
import plugin from './proxy-rewrite.js';
import { makeTestContext, prepareConf, schemaError } from '../../test/helpers/plugin-context-transform.js';

async function run(conf: Record<string, unknown>, init: Parameters<typeof makeTestContext>[0] = {}) {
  const p = prepareConf(plugin, conf);
  const ctx = makeTestContext(init);
  const result = await plugin.rewrite!(p, ctx);
  return { ctx, result };
}

test('declares APISIX field names, the authorization stage and priority 290', () => {
  assert.equal(plugin.name, 'proxy-rewrite');
  assert.equal(plugin.stage, 'authorization');
  assert.equal(plugin.priority, 290);
  assert.ok(!('_meta' in (plugin.schema.properties as object)));
});

test('uri replaces the path and keeps the client query string', async () => {
  const { ctx, result } = await run({ uri: '/anything' }, { target: '/get?version=v2' });
  assert.equal(result, undefined);
  assert.equal(ctx.request.upstreamUri, '/anything?version=v2');
  assert.equal((await run({ uri: '/anything' }, { target: '/get' })).ctx.request.upstreamUri, '/anything');
});

test('a uri with its own query string gets the client query appended with &', async () => {
  const { ctx } = await run({ uri: '/x?a=1' }, { target: '/get?b=2' });
  assert.equal(ctx.request.upstreamUri, '/x?a=1&b=2');
});

test('uri resolves $vars; a ? inside a value is escaped, the path is nginx-encoded', async () => {
  const { ctx } = await run({ uri: '/u/$arg_name$uri' }, { target: '/p%20q?name=a%3Fb' });
  // APISIX escapes the ? to %3F, then nginx-encodes the path, % included (t/plugin/proxy-rewrite3.t TEST 24)
  assert.equal(ctx.request.upstreamUri, '/u/a%253Fb/p%20q?name=a%3Fb');
  const { ctx: c2 } = await run({ uri: '/h/${http_x_user ?? anon}' }, { target: '/', headers: {} });
  assert.equal(c2.request.upstreamUri, '/h/anon');
});

test('without uri the normalised uri is re-encoded, so CR/LF cannot reach the request line', async () => {
  // t/plugin/proxy-rewrite3.t TEST 22
  const target = '/hello%3f0z=700%26a=c%20HTTP/1.1%0D%0AHost:google.com%0d%0a%0d%0a';
  const { ctx } = await run({ host: 'test.xxxx.com' }, { target });
  assert.equal(ctx.request.upstreamUri, '/hello%3F0z=700&a=c%20HTTP/1.1%0D%0AHost:google.com%0D%0A%0D%0A');
});

test('regex_uri rewrites with the first matching pair and exposes captures to headers', async () => {
  const conf = { regex_uri: ['^/nomatch/(.*)', '/n/$1', '^/iresty/(.*)/(.*)', '/$1-$2'], headers: { set: { 'X-Cap': '$1|$2' } } };
  const { ctx } = await run(conf, { target: '/iresty/hello/world?q=1' });
  assert.equal(ctx.request.upstreamUri, '/hello-world?q=1');
  assert.equal(ctx.requestHeaders.get('x-cap'), 'hello|world');
  assert.deepEqual(ctx.setVars.get('proxy_rewrite_regex_uri_captures'), ['/iresty/hello/world', 'hello', 'world']);
});

test('regex_uri without a match keeps the uri', async () => {
  const { ctx } = await run({ regex_uri: ['^/x/(.*)', '/$1'] }, { target: '/y/z' });
  assert.equal(ctx.request.upstreamUri, '/y/z');
});

test('uri wins over regex_uri', async () => {
  const { ctx } = await run({ uri: '/u', regex_uri: ['^/(.*)', '/r/$1'] }, { target: '/a' });
  assert.equal(ctx.request.upstreamUri, '/u');
});

test('host sets the upstream Host', async () => {
  const { ctx } = await run({ host: 'example.com:8080' });
  assert.equal(ctx.request.upstreamHost, 'example.com:8080');
});

test('method sets the method sent upstream', async () => {
  const { ctx } = await run({ method: 'POST' });
  assert.equal((ctx.request as { upstreamMethod?: string }).upstreamMethod, 'POST');
});

test('headers add, set and remove, in that order, with $vars', async () => {
  const { ctx } = await run({
    headers: {
      add: { 'X-Add': 'a', 'X-Multi': ['1', 2] },
      set: { 'X-Set': 'v-$arg_k', 'X-Add': 'replaced' },
      remove: ['X-Drop'],
    },
  }, { target: '/?k=K', headers: { 'x-add': 'orig', 'x-drop': 'bye' } });
  assert.equal(ctx.requestHeaders.get('x-add'), 'replaced');
  assert.equal(ctx.requestHeaders.get('x-multi'), '1, 2');
  assert.equal(ctx.requestHeaders.get('x-set'), 'v-K');
  assert.equal(ctx.requestHeaders.has('x-drop'), false);
});

test('headers add appends to a header already present', async () => {
  const { ctx } = await run({ headers: { add: { 'X-A': 'two' } } }, { headers: { 'x-a': 'one' } });
  assert.equal(ctx.requestHeaders.get('x-a'), 'one, two');
});

test('the legacy flat headers map sets headers', async () => {
  const { ctx } = await run({ headers: { 'X-Api-Version': 'v2', 'X-Num': 3 } });
  assert.equal(ctx.requestHeaders.get('x-api-version'), 'v2');
  assert.equal(ctx.requestHeaders.get('x-num'), '3');
});

test('use_real_request_uri_unsafe forwards the raw target untouched', async () => {
  const { ctx } = await run({ use_real_request_uri_unsafe: true }, { target: '/a%2Fb/../c?x=%20' });
  assert.equal(ctx.request.upstreamUri, '/a%2Fb/../c?x=%20');
  const { ctx: c2 } = await run({ use_real_request_uri_unsafe: true, uri: '/new' }, { target: '/a%2F?x=1' });
  assert.equal(c2.request.upstreamUri, '/new?x=1');
});

test('schema errors name the field', () => {
  assert.match(schemaError(plugin, { uri: 'no-slash' })!, /property "uri" validation failed/);
  assert.match(schemaError(plugin, { method: 'FETCH' })!, /property "method" validation failed/);
  assert.match(schemaError(plugin, { host: 'bad host' })!, /property "host" validation failed/);
  assert.match(schemaError(plugin, { regex_uri: ['only-one'] })!, /property "regex_uri" validation failed/);
  assert.match(schemaError(plugin, { headers: { set: { 'X-A': true } } })!, /property "headers.set.X-A" validation failed/);
  assert.equal(schemaError(plugin, { uri: '/ok', use_real_request_uri_unsafe: false }), undefined);
});

test('prepare refuses regex_uri of odd length, bad regexes and bad templates', () => {
  assert.throws(() => prepareConf(plugin, { regex_uri: ['^/a', '/b', '^/c'] }), /The length of regex_uri should be an even number/);
  assert.throws(() => prepareConf(plugin, { regex_uri: ['^/(a', '/b'] }), /invalid regex_uri\(\^\/\(a, \/b\)/);
  assert.throws(() => prepareConf(plugin, { regex_uri: ['^/(a)', '/$x'] }), /invalid regex_uri.*invalid capturing variable name/);
});

test('the schema refuses CR, LF and NUL in header names and values, in every headers form', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ headers: { 'X-A': 'a\nb' } }, /property "headers.X-A" validation failed: failed to match pattern/],
    [{ headers: { set: { 'X-A': 'a\r\nInjected: 1' } } }, /property "headers.set.X-A" validation failed/],
    [{ headers: { add: { 'X-A': ['ok', 'b\r'] } } }, /property "headers.add.X-A" validation failed/],
    [{ headers: { set: { 'X\nA': 'v' } } }, /property "headers.set" validation failed: invalid property name "X\\nA"/],
    [{ headers: { remove: ['X-A\r\n'] } }, /property "headers.remove" validation failed: failed to validate item 1/],
    [{ headers: { 'X-A': 'nul\u0000' } }, /property "headers.X-A" validation failed/],
    [{ host: 'a.test\r\nX: y' }, /property "host" validation failed/],
  ];
  for (const [conf, message] of cases) assert.match(schemaError(plugin, conf) ?? 'accepted', message, JSON.stringify(conf));
  assert.equal(schemaError(plugin, { headers: { set: { 'X-A': 'tab\tok', 'X-N': 1 } } }), undefined);
});

test('seed example: { _meta: { filter }, uri: "/anything" } is a valid config', () => {
  // The runtime injects _meta; here only the plugin's own fields are checked.
  const p = prepareConf(plugin, { uri: '/anything' });
  assert.ok(p.uri);
});

test('set: values without variables are joined once at prepare; mixed ones per request', async () => {
  const { ctx } = await run({ headers: { set: { 'X-L': ['a', 1], 'X-M': ['a', '$arg_k'], 'X-E': 'cost \\$5' } } }, { target: '/?k=K' });
  assert.equal(ctx.requestHeaders.get('x-l'), 'a, 1');
  assert.equal(ctx.requestHeaders.get('x-m'), 'a, K');
  assert.equal(ctx.requestHeaders.get('x-e'), 'cost \\$5');
});
