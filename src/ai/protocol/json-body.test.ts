import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isJsonContentType, parseJsonBody, readJsonBody, writeJsonBody } from './json-body.js';
import type { PluginContext } from '../../contracts/plugin.js';

function context(initial: string): { ctx: PluginContext; sent: () => Buffer; parses: () => number } {
  let body: Buffer = Buffer.from(initial);
  let reads = 0;
  const shared = new Map<string, unknown>();
  const ctx = {
    shared,
    request: {
      body: async () => { reads++; return body; },
      setBody: (b: Buffer | string) => { body = typeof b === 'string' ? Buffer.from(b) : b; },
    },
  } as unknown as PluginContext;
  return { ctx, sent: () => body, parses: () => reads };
}

test('parsed once per body; a write is what the next reader gets, and what goes upstream', async () => {
  const { ctx, sent } = context('{"model":"a","messages":[]}');
  const first = await readJsonBody(ctx);
  assert.ok(first.ok);
  const again = await readJsonBody(ctx);
  assert.ok(again.ok);
  assert.equal(again.json, first.json, 'the same object: not parsed twice');
  writeJsonBody(ctx, { ...first.json, model: 'b' });
  const after = await readJsonBody(ctx);
  assert.ok(after.ok);
  assert.equal(after.json.model, 'b');
  assert.deepEqual(JSON.parse(sent().toString()), { model: 'b', messages: [] });
});

test('a body replaced by another plugin is parsed afresh', async () => {
  const { ctx } = context('{"model":"a"}');
  await readJsonBody(ctx);
  ctx.request.setBody('{"model":"c"}');
  const r = await readJsonBody(ctx);
  assert.ok(r.ok);
  assert.equal(r.json.model, 'c');
});

test('empty, malformed and non-object bodies are told apart', () => {
  assert.deepEqual(parseJsonBody(Buffer.alloc(0)), { ok: false, reason: 'empty', message: 'request body is empty' });
  const bad = parseJsonBody(Buffer.from('{'));
  assert.equal(bad.ok === false && bad.reason, 'not_json');
  assert.equal(parseJsonBody(Buffer.from('[1]')).ok, false);
  assert.equal(parseJsonBody(Buffer.from('null')).ok, false);
});

test('JSON content types', () => {
  assert.equal(isJsonContentType(undefined), true);
  assert.equal(isJsonContentType('application/json; charset=utf-8'), true);
  assert.equal(isJsonContentType('application/vnd.api+json'), true);
  assert.equal(isJsonContentType('text/plain'), false);
  assert.equal(isJsonContentType('multipart/form-data; boundary=x'), false);
});
