import { test } from 'node:test';
import assert from 'node:assert/strict';
import rv from './request-validation.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

test('schema: one of the two schemas is required; codes and messages bounded; user schemas compiled in prepare', () => {
  assert.match(schemaError(rv.schema, {})!, /matches none/);
  assert.match(schemaError(rv.schema, { body_schema: {}, rejected_code: 600 })!, /property "rejected_code" validation failed/);
  assert.match(schemaError(rv.schema, { body_schema: {}, rejected_msg: '' })!, /property "rejected_msg" validation failed/);
  assert.match(schemaError(rv.schema, { header_schema: 'x' })!, /property "header_schema" validation failed/);
  assert.throws(() => prepareWith(rv, { body_schema: { type: 'test' } }), /^Error: invalid body_schema: /);
  assert.throws(() => prepareWith(rv, { header_schema: { pattern: '(' } }), /^Error: invalid header_schema: /);
});

test('two configs may carry the same $id', () => {
  const schema = { $id: 'https://example.com/req', type: 'object' };
  prepareWith(rv, { body_schema: schema });
  prepareWith(rv, { body_schema: { ...schema } });
});

test('headers are checked by lower-case name', async () => {
  const p = prepareWith(rv, { header_schema: { type: 'object', required: ['x-a'] }, rejected_msg: 'no' });
  assert.equal(await rv.rewrite!(p, createTestContext({ headers: { 'X-A': '1' } })), undefined);
  assert.deepEqual(await rv.rewrite!(p, createTestContext()), { status: 400, body: 'no' });
});

test('JSON and form bodies; an empty body is refused', async () => {
  const p = prepareWith(rv, { body_schema: { type: 'object', properties: { n: { type: ['integer', 'string'], pattern: '^[0-9]+$' } } } });
  const json = createTestContext({ method: 'POST', headers: { 'content-type': 'application/json' } });
  json.request.setBody('{"n":"1","n":2}');
  assert.equal(await rv.rewrite!(p, json), undefined);
  assert.equal((await json.request.body()).toString(), '{"n":2}');
  const form = createTestContext({ method: 'POST', headers: { 'content-type': 'Application/X-WWW-Form-Urlencoded; charset=utf-8' } });
  form.request.setBody('n=x');
  assert.match(String((await rv.rewrite!(p, form))?.body), /property "n" validation failed/);
  assert.equal((await rv.rewrite!(p, createTestContext({ method: 'POST' })))?.status, 400);
});
