import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import plugin from './response-rewrite.js';
import { overridePluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { ResponseFailure } from '../plugin-runtime/response-failure.js';
import { makeTestContext, prepareConf, schemaError, type TestContext } from '../../test/helpers/plugin-context-transform.js';

/** header_filter then body_filter over `chunks`; returns what the client would receive. */
function respond(conf: Record<string, unknown>, response: { status?: number; headers?: Record<string, string> },
  chunks: (string | Buffer)[]): { ctx: TestContext; body: Buffer } {
  const p = prepareConf(plugin, conf);
  const ctx = makeTestContext({ response });
  plugin.header_filter!(p, ctx);
  const out: Buffer[] = [];
  chunks.forEach((c, i) => {
    const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c);
    const r = (plugin.body_filter!(p, ctx, chunk, i === chunks.length - 1) as Buffer | string | undefined) ?? chunk;
    out.push(typeof r === 'string' ? Buffer.from(r) : r);
  });
  return { ctx, body: Buffer.concat(out) };
}

test('declares the authorization stage and priority 189', () => {
  assert.equal(plugin.name, 'response-rewrite');
  assert.equal(plugin.stage, 'authorization');
  assert.equal(plugin.priority, 189);
});

test('status_code replaces the status', () => {
  const { ctx } = respond({ status_code: 403 }, { status: 200 }, ['x']);
  assert.equal(ctx.response.status, 403);
});

test('body replaces the whole body, drops content-length and validators', () => {
  const { ctx, body } = respond({ body: 'new body\n' },
    { headers: { 'content-length': '10', etag: '"x"', 'last-modified': 'yesterday' } }, ['first ', 'second ', 'third']);
  assert.equal(body.toString(), 'new body\n');
  assert.equal(ctx.responseHeaders.has('content-length'), false);
  assert.equal(ctx.responseHeaders.has('etag'), false);
  assert.equal(ctx.responseHeaders.has('last-modified'), false);
});

test('body_base64 decodes the configured body', () => {
  const { body } = respond({ body: Buffer.from([0, 1, 2, 255]).toString('base64'), body_base64: true }, {}, ['x']);
  assert.deepEqual([...body], [0, 1, 2, 255]);
  assert.throws(() => prepareConf(plugin, { body: 'not base64!', body_base64: true }), /invalid base64 content/);
  assert.throws(() => prepareConf(plugin, { body_base64: true }), /invalid base64 content/);
});

test('headers add, set and remove with $vars; the legacy map sets', () => {
  const { ctx } = respond({
    headers: { add: ['X-Add: one', 'X-Status: $status'], set: { 'X-Set': 'v', Server: 'gh' }, remove: ['X-Drop'] },
  }, { status: 201, headers: { 'x-add': 'zero', 'x-drop': '1' } }, ['x']);
  assert.equal(ctx.responseHeaders.get('x-add'), 'zero, one');
  assert.equal(ctx.responseHeaders.get('x-status'), '201');
  assert.equal(ctx.responseHeaders.get('x-set'), 'v');
  assert.equal(ctx.responseHeaders.get('server'), 'gh');
  assert.equal(ctx.responseHeaders.has('x-drop'), false);
  const legacy = respond({ headers: { 'X-A': 'a', 'X-N': 1 } }, {}, ['x']).ctx;
  assert.equal(legacy.responseHeaders.get('x-a'), 'a');
  assert.equal(legacy.responseHeaders.get('x-n'), '1');
});

test('vars decides: nothing changes when the response does not match', () => {
  const conf = { vars: [['status', '==', 200]], body: 'rewritten', status_code: 202, headers: { set: { 'X-M': '1' } } };
  const miss = respond(conf, { status: 500 }, ['original']);
  assert.equal(miss.body.toString(), 'original');
  assert.equal(miss.ctx.response.status, 500);
  assert.equal(miss.ctx.responseHeaders.has('x-m'), false);
  const hit = respond(conf, { status: 200 }, ['original']);
  assert.equal(hit.body.toString(), 'rewritten');
  assert.equal(hit.ctx.response.status, 202);
});

test('filters buffer the body and substitute once or globally', () => {
  const conf = { filters: [{ regex: 'foo', replace: 'bar' }, { regex: 'X(\\d)', replace: 'Y$1', scope: 'global' }] };
  const { body, ctx } = respond(conf, { headers: { 'content-length': '20' } }, ['foo foo X1 ', 'X2 foo']);
  assert.equal(body.toString(), 'bar foo Y1 Y2 foo');
  assert.equal(ctx.responseHeaders.has('content-length'), false);
});

test('filters: options control the regex (i = caseless), default jo is case-sensitive', () => {
  assert.equal(respond({ filters: [{ regex: 'HELLO', replace: 'bye' }] }, {}, ['hello']).body.toString(), 'hello');
  assert.equal(respond({ filters: [{ regex: 'HELLO', replace: 'bye', options: 'ijo' }] }, {}, ['hello']).body.toString(), 'bye');
});

test('filters keep non-ASCII text intact', () => {
  const { body } = respond({ filters: [{ regex: 'café', replace: 'thé', scope: 'global' }] }, {}, ['un café, deux café']);
  assert.equal(body.toString(), 'un thé, deux thé');
});

test('filters decode a gzip body and send it uncompressed', () => {
  const gz = gzipSync(Buffer.from('{"name":"old"}'));
  const { body, ctx } = respond({ filters: [{ regex: 'old', replace: 'new' }] },
    { headers: { 'content-encoding': 'gzip' } }, [gz.subarray(0, 5), gz.subarray(5)]);
  assert.equal(body.toString(), '{"name":"new"}');
  assert.equal(ctx.responseHeaders.has('content-encoding'), false);
});

test('filters leave a body in an unknown encoding alone', () => {
  const { body, ctx } = respond({ filters: [{ regex: 'a', replace: 'b' }] }, { headers: { 'content-encoding': 'zstd' } }, ['aaa']);
  assert.equal(body.toString(), 'aaa');
  assert.equal(ctx.responseHeaders.get('content-encoding'), 'zstd');
});

test('max_resp_body_size truncates what filters buffer', () => {
  const { body } = respond({ filters: [{ regex: 'z', replace: 'y' }], max_resp_body_size: 4 }, {}, ['abc', 'def']);
  assert.equal(body.toString(), 'abcd');
});

// A small compressed body can inflate to gigabytes: decoding stops at the node's bound
// and the request fails (ResponseFailure: 502) instead of the worker's memory.
test('a compressed body decoding past node.max_buffered_body_size fails the request', () => {
  const restore = overridePluginNodeLimits({ maxBufferedBodySize: 1024 * 1024 });
  try {
    const zeros = Buffer.alloc(4 * 1024 * 1024);
    for (const [encoding, body] of [['gzip', gzipSync(zeros)], ['deflate', deflateSync(zeros)], ['br', brotliCompressSync(zeros)]] as const) {
      assert.throws(() => respond({ filters: [{ regex: 'a', replace: 'b' }] }, { headers: { 'content-encoding': encoding } }, [body]),
        (err: unknown) => err instanceof ResponseFailure && err.code === 'GH_ERR_RESPONSE_BODY_TOO_LARGE'
          && /response-rewrite: the decoded upstream response body is larger than node.max_buffered_body_size \(1048576 bytes\)/.test(err.message),
        encoding);
    }
  } finally {
    restore();
  }
});

test('a raw body past node.max_buffered_body_size fails the request; below it max_resp_body_size truncates', () => {
  const restore = overridePluginNodeLimits({ maxBufferedBodySize: 1024 });
  try {
    assert.throws(() => respond({ filters: [{ regex: 'a', replace: 'b' }] }, {}, ['x'.repeat(1000), 'x'.repeat(100)]),
      (err: unknown) => err instanceof ResponseFailure && /upstream response body is larger than node.max_buffered_body_size/.test(err.message));
    const { body } = respond({ filters: [{ regex: 'x', replace: 'y' }], max_resp_body_size: 10 }, {}, ['x'.repeat(1000), 'x'.repeat(100)]);
    assert.equal(body.toString(), 'y' + 'x'.repeat(9));
  } finally {
    restore();
  }
});

test('schema errors name the field; body and filters exclude each other', () => {
  assert.match(schemaError(plugin, { status_code: 100 })!, /property "status_code" validation failed/);
  assert.match(schemaError(plugin, { body: 1 })!, /property "body" validation failed/);
  assert.match(schemaError(plugin, { filters: [{ regex: 'a' }] })!, /filters/);
  assert.match(schemaError(plugin, { filters: [{ regex: 'a', replace: 'b', scope: 'all' }] })!, /scope/);
  assert.match(schemaError(plugin, { headers: { add: ['no-colon'] } })!, /property "headers.add" validation failed/);
});

test('the schema refuses CR, LF and NUL in header names and values', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ headers: { 'X-A': 'a\r\nb' } }, /property "headers.X-A" validation failed/],
    [{ headers: { set: { 'X-A': 'a\nb' } } }, /property "headers.set.X-A" validation failed/],
    [{ headers: { set: { 'X\rA': 'v' } } }, /property "headers.set" validation failed: invalid property name/],
    [{ headers: { add: ['X-A: a\r\nX-B: b'] } }, /property "headers.add" validation failed: failed to validate item 1/],
    [{ headers: { remove: ['X\nA'] } }, /property "headers.remove" validation failed/],
  ];
  for (const [conf, message] of cases) assert.match(schemaError(plugin, conf) ?? 'accepted', message, JSON.stringify(conf));
  assert.equal(schemaError(plugin, { headers: { add: ['Set-Cookie: a=b; Max-Age=5'], set: { 'X-A': 'v' } } }), undefined);
  assert.ok(schemaError(plugin, { body: 'a', filters: [{ regex: 'a', replace: 'b' }] }) !== undefined);
});

test('prepare refuses bad vars and bad filter regexes', () => {
  assert.throws(() => prepareConf(plugin, { vars: [['status', 'bad-op', 200]] }), /failed to validate the 'vars' expression/);
  assert.throws(() => prepareConf(plugin, { filters: [{ regex: '(', replace: 'x' }] }), /regex "\(" validation failed/);
});
