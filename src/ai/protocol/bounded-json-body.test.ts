import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readBoundedJsonBody } from './bounded-json-body.js';
import { createTestContext } from '../../../test/helpers/plugin-context.js';

function withBody(body: string, headers: Record<string, string> = {}): ReturnType<typeof createTestContext> {
  const ctx = createTestContext({ method: 'POST', headers });
  ctx.request.setBody(body);
  return ctx;
}

test('a declared length over the bound is refused before the body is read', async () => {
  const ctx = withBody('{}', { 'content-length': '11' });
  let read = false;
  const original = ctx.request.body;
  ctx.request.body = () => { read = true; return original(); };
  assert.deepEqual(await readBoundedJsonBody(ctx, 10),
    { ok: false, status: 413, message: 'request size 11 is greater than the maximum size 10 allowed' });
  assert.equal(read, false);
});

test('an undeclared length is measured once read; APISIX\'s messages otherwise', async () => {
  assert.deepEqual(await readBoundedJsonBody(withBody('{"a":"0123456"}'), 10),
    { ok: false, status: 413, message: 'request size 15 is greater than the maximum size 10 allowed' });
  assert.deepEqual(await readBoundedJsonBody(withBody(''), 10), { ok: false, status: 400, message: 'could not get body: request body is empty' });
  const bad = await readBoundedJsonBody(withBody('{'), 10);
  assert.ok(!bad.ok && bad.status === 400 && bad.message.startsWith('could not parse JSON request body: '));
  assert.deepEqual(await readBoundedJsonBody(withBody('[1]'), 10),
    { ok: false, status: 400, message: 'could not parse JSON request body: request body is not a JSON object' });
  assert.deepEqual(await readBoundedJsonBody(withBody('{"a":1}', { 'content-length': '7' }), 10), { ok: true, json: { a: 1 } });
});
