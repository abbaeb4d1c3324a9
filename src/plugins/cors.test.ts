import { test } from 'node:test';
import assert from 'node:assert/strict';
import cors from './cors.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

type Opts = Parameters<typeof createTestContext>[0];

/** Runs header_filter for a request and returns the response headers. */
function filter(conf: Record<string, unknown>, req: Opts, metadata?: Record<string, unknown>): Record<string, string> {
  const p = prepareWith(cors, conf, { metadata });
  const ctx = createTestContext(req);
  cors.header_filter!(p, ctx);
  return ctx.response.headers;
}

test('schema: defaults, patterns, credential rule, regexes', () => {
  const p = prepareWith(cors, {});
  assert.equal(p.methods, '*');
  assert.equal(p.headers, '*');
  assert.equal(p.maxAge, '5');
  assert.equal(p.credential, false);
  assert.match(schemaError(cors.schema, { allow_origins: 'example.com' })!, /property "allow_origins" validation failed: failed to match pattern/);
  assert.match(schemaError(cors.schema, { max_age: 'x' })!, /property "max_age"/);
  assert.match(schemaError(cors.schema, { allow_origins_by_regex: [] })!, /property "allow_origins_by_regex"/);
  assert.match(schemaError(cors.schema, { allow_origins_by_metadata: ['a', 'a'] })!, /property "allow_origins_by_metadata"/);
  assert.throws(() => prepareWith(cors, { allow_credential: true }), /you can not set '\*' for other option when 'allow_credential' is true/);
  assert.throws(() => prepareWith(cors, { allow_credential: true, allow_origins: 'http://a.com', allow_methods: 'GET', allow_headers: 'x', expose_headers: '*' }), /allow_credential/);
  assert.doesNotThrow(() => prepareWith(cors, { allow_credential: true, allow_origins: 'http://a.com', allow_methods: 'GET', allow_headers: 'x' }));
  assert.throws(() => prepareWith(cors, { allow_origins_by_regex: ['(unclosed'] }), /allow_origins_by_regex\[1\]/);
  assert.throws(() => prepareWith(cors, { allow_origins_by_regex: ['a', '^(x)\\1$'] }), /allow_origins_by_regex\[2\] .*back references .* not supported/);
  assert.throws(() => prepareWith(cors, { timing_allow_origins_by_regex: ['^(?!evil)'] }), /timing_allow_origins_by_regex\[1\] .*lookahead/);
  assert.match(schemaError(cors.metadataSchema, { allow_origins: { a: 'bad' } })!, /property "allow_origins\.a" validation failed/);
});

test('defaults: * for everything, no Vary', () => {
  assert.deepEqual(filter({}, { headers: { origin: 'http://a.com' } }), {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': '*',
    'access-control-max-age': '5',
    'access-control-allow-headers': '*',
  });
});

test('a list of origins: the matching origin is echoed with Vary; others get no CORS headers', () => {
  const conf = { allow_origins: 'http://a.com,https://b.com', allow_methods: 'GET,POST', allow_headers: 'x-a', expose_headers: 'x-e', max_age: 100, allow_credential: true };
  assert.deepEqual(filter(conf, { headers: { origin: 'https://b.com' } }), {
    vary: 'Origin',
    'access-control-allow-origin': 'https://b.com',
    'access-control-allow-methods': 'GET,POST',
    'access-control-max-age': '100',
    'access-control-expose-headers': 'x-e',
    'access-control-allow-headers': 'x-a',
    'access-control-allow-credentials': 'true',
  });
  assert.deepEqual(filter(conf, { headers: { origin: 'http://c.com' } }), { vary: 'Origin' });
  assert.deepEqual(filter(conf, {}), { vary: 'Origin' });
});

test('a single origin is allowed only for that origin', () => {
  assert.equal(filter({ allow_origins: 'http://a.com' }, { headers: { origin: 'http://a.com' } })['access-control-allow-origin'], 'http://a.com');
  assert.equal(filter({ allow_origins: 'http://a.com' }, { headers: { origin: 'http://b.com' } })['access-control-allow-origin'], undefined);
});

test('** reflects the origin, every method, and the requested headers', () => {
  const h = filter({ allow_origins: '**', allow_methods: '**', allow_headers: '**' },
    { headers: { origin: 'http://x.io', 'access-control-request-headers': 'x-one,x-two' } });
  assert.equal(h['access-control-allow-origin'], 'http://x.io');
  assert.equal(h['access-control-allow-methods'], 'GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE');
  assert.equal(h['access-control-allow-headers'], 'x-one,x-two');
  assert.equal(h.vary, 'Origin');
  const noReq = filter({ allow_origins: '**', allow_headers: '**' }, {});
  assert.equal(noReq['access-control-allow-origin'], '*');
  assert.equal(noReq['access-control-allow-headers'], undefined);
});

test('allow_origins_by_regex replaces allow_origins', () => {
  const conf = { allow_origins: 'http://a.com', allow_origins_by_regex: ['^https://.*\\.test\\.com$'] };
  assert.equal(filter(conf, { headers: { origin: 'https://x.test.com' } })['access-control-allow-origin'], 'https://x.test.com');
  assert.equal(filter(conf, { headers: { origin: 'http://a.com' } })['access-control-allow-origin'], undefined);
  assert.equal(filter(conf, {})['access-control-allow-origin'], undefined);
});

test('allow_origins_by_metadata uses the plugin metadata, then a non-default allow_origins', () => {
  const metadata = { allow_origins: { team: 'http://t1.com,http://t2.com', any: '*' } };
  const conf = { allow_origins_by_metadata: ['team'] };
  assert.equal(filter(conf, { headers: { origin: 'http://t2.com' } }, metadata)['access-control-allow-origin'], 'http://t2.com');
  assert.equal(filter(conf, { headers: { origin: 'http://a.com' } }, metadata)['access-control-allow-origin'], undefined,
    'the default * does not apply when metadata is used');
  const withLocal = { allow_origins_by_metadata: ['team'], allow_origins: 'http://a.com' };
  assert.equal(filter(withLocal, { headers: { origin: 'http://a.com' } }, metadata)['access-control-allow-origin'], 'http://a.com');
  assert.equal(filter({ allow_origins_by_metadata: ['missing'] }, { headers: { origin: 'http://t1.com' } }, metadata)['access-control-allow-origin'], undefined);
  assert.equal(filter({ allow_origins_by_metadata: ['team'] }, { headers: { origin: 'http://t1.com' } }, undefined)['access-control-allow-origin'], undefined);
  assert.equal(filter({ allow_origins_by_metadata: ['any'] }, { headers: { origin: 'http://z.com' } }, metadata)['access-control-allow-origin'], 'http://z.com');
});

test('timing_allow_origins and its regex form', () => {
  assert.equal(filter({ timing_allow_origins: 'http://a.com' }, { headers: { origin: 'http://a.com' } })['timing-allow-origin'], 'http://a.com');
  assert.equal(filter({ timing_allow_origins: 'http://a.com' }, { headers: { origin: 'http://b.com' } })['timing-allow-origin'], undefined);
  assert.equal(filter({ timing_allow_origins_by_regex: ['\\.b\\.com$'] }, { headers: { origin: 'http://x.b.com' } })['timing-allow-origin'], 'http://x.b.com');
  assert.equal(filter({}, { headers: { origin: 'http://a.com' } })['timing-allow-origin'], undefined);
});

test('timing_allow_origins with its regex form is refused: the string form would be ignored', () => {
  assert.throws(() => prepareWith(cors, { timing_allow_origins: 'http://a.com', timing_allow_origins_by_regex: ['\\.b\\.com$'] }),
    /^Error: timing_allow_origins has no effect with timing_allow_origins_by_regex: set only one$/);
});

test('Vary: Origin is appended once to an existing Vary', () => {
  const p = prepareWith(cors, { allow_origins: 'http://a.com' });
  const ctx = createTestContext({ headers: { origin: 'http://a.com' }, responseHeaders: { Vary: 'Accept-Encoding' } });
  cors.header_filter!(p, ctx);
  cors.header_filter!(p, ctx);
  assert.equal(ctx.response.headers.vary, 'Accept-Encoding, Origin');
});

test('preflight: OPTIONS is answered with 200, an empty body and the CORS headers; other methods continue', async () => {
  const p = prepareWith(cors, { allow_origins: 'http://a.com', allow_methods: 'GET,POST', max_age: 60 });
  const r = await cors.preflight!(p, createTestContext({ method: 'OPTIONS', headers: { origin: 'http://a.com', 'access-control-request-method': 'POST' } }));
  assert.deepEqual(r, {
    status: 200,
    body: '',
    headers: {
      'access-control-allow-origin': 'http://a.com',
      'access-control-allow-methods': 'GET,POST',
      'access-control-max-age': '60',
      'access-control-allow-headers': '*',
      vary: 'Origin',
    },
  });
  const denied = await cors.preflight!(p, createTestContext({ method: 'OPTIONS', headers: { origin: 'http://evil.com' } }));
  assert.deepEqual(denied, { status: 200, body: '', headers: { vary: 'Origin' } });
  assert.equal(await cors.preflight!(p, createTestContext({ method: 'GET', headers: { origin: 'http://a.com' } })), undefined);
});

test('header_filter uses the origin the request arrived with, even if a plugin changed it', async () => {
  const p = prepareWith(cors, { allow_origins: 'http://a.com' });
  const ctx = createTestContext({ headers: { origin: 'http://a.com' } });
  await cors.preflight!(p, ctx);
  ctx.request.setHeader('origin', 'http://other.com');
  cors.header_filter!(p, ctx);
  assert.equal(ctx.response.headers['access-control-allow-origin'], 'http://a.com');
});

test('header_filter adds the headers to a rejection too (e.g. a 401)', () => {
  const p = prepareWith(cors, {});
  const ctx = createTestContext({ status: 401, headers: { origin: 'http://a.com' }, responseHeaders: { 'www-authenticate': 'apikey realm="key"' } });
  cors.header_filter!(p, ctx);
  assert.equal(ctx.response.headers['access-control-allow-origin'], '*');
  assert.equal(ctx.response.headers['www-authenticate'], 'apikey realm="key"');
});

test('headers that do not depend on the request are built once and are what the per-request rules give', () => {
  const fixed = prepareWith(cors, { expose_headers: 'x-a', max_age: 10, allow_methods: '**' });
  assert.deepEqual(fixed.fixed, [
    'access-control-allow-origin', '*', 'access-control-allow-methods', 'GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE',
    'access-control-max-age', '10', 'access-control-expose-headers', 'x-a', 'access-control-allow-headers', '*',
  ]);
  const requests: Record<string, string>[] = [{}, { origin: 'http://a.com' }, { origin: 'null', 'access-control-request-headers': 'x-b' }];
  for (const headers of requests) {
    const ctx = createTestContext({ headers });
    cors.header_filter!(fixed, ctx);
    assert.deepEqual(ctx.response.headers, Object.fromEntries(Object.entries({
      'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE',
      'access-control-max-age': '10', 'access-control-expose-headers': 'x-a', 'access-control-allow-headers': '*',
    })));
  }
  // anything that depends on the request is resolved per request
  assert.equal(prepareWith(cors, { allow_headers: '**' }).fixed, undefined);
  assert.equal(prepareWith(cors, { allow_origins: 'http://a.com' }).fixed, undefined);
  assert.equal(prepareWith(cors, { allow_origins_by_regex: ['a'] }).fixed, undefined);
  assert.equal(prepareWith(cors, { timing_allow_origins: '*' }).fixed, undefined);
  assert.equal(prepareWith(cors, { allow_origins_by_metadata: ['k'] }, { metadata: { allow_origins: { k: '*' } } }).fixed, undefined);
});

// Origin is a header any client sets: a backtracking engine would let one request
// hold the worker.
test('origin regexes run in linear time', { timeout: 20000 }, () => {
  const conf = { allow_origins_by_regex: ['^(a+)+$'] };
  const headers = filter(conf, { headers: { origin: 'a'.repeat(40) + '!' } });
  assert.equal(headers['access-control-allow-origin'], undefined);
  assert.equal(filter(conf, { headers: { origin: 'aaaa' } })['access-control-allow-origin'], 'aaaa');
});
