import { test } from 'node:test';
import assert from 'node:assert/strict';
import degraphql from './degraphql.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

const PERSONS = 'query($name: String!, $limit: Int) { persons(filter: {name: $name}, limit: $limit) { id name } }';

async function sent(conf: Record<string, unknown>, method: string, uri: string, body?: string) {
  const ctx = createTestContext({ method, uri });
  if (body !== undefined) ctx.request.setBody(body);
  const result = await degraphql.access!(prepareWith(degraphql, conf), ctx);
  const json = result === undefined ? JSON.parse((await ctx.request.body()).toString()) as Record<string, unknown> : {};
  return { result, ctx, json };
}

test('schema: query required, sizes, variables a non-empty list of names', () => {
  assert.match(schemaError(degraphql.schema, {})!, /query/);
  assert.match(schemaError(degraphql.schema, { query: '' })!, /property "query"/);
  assert.match(schemaError(degraphql.schema, { query: 'x'.repeat(1025) })!, /property "query"/);
  assert.match(schemaError(degraphql.schema, { query: '{ a }', variables: [] })!, /property "variables"/);
  assert.match(schemaError(degraphql.schema, { query: '{ a }', operation_name: '' })!, /property "operation_name"/);
  assert.match(schemaError(degraphql.schema, { query: '{ a }', max_req_body_size: 10 })!, /max_req_body_size/);
});

test('the query is parsed and checked once, at config time', () => {
  assert.throws(() => prepareWith(degraphql, { query: '{ persons ' }), /failed to parse query: Syntax Error/);
  assert.throws(() => prepareWith(degraphql, { query: 'query { a(x: $x) }' }), /invalid query: Variable "\$x" is not defined/);
  assert.throws(() => prepareWith(degraphql, { query: 'type T { a: Int }' }), /invalid query: The "T" definition is not executable/);
  assert.throws(() => prepareWith(degraphql, { query: 'query A { a } query B { b }' }),
    /operation_name is required if multiple operations are present in the query/);
  assert.throws(() => prepareWith(degraphql, { query: 'query A { a } query B { b }', operation_name: 'C' }), /operation_name "C"/);
  assert.equal(prepareWith(degraphql, { query: 'query A { a } query B { b }', operation_name: 'B' }).operationName, 'B');
  assert.equal(prepareWith(degraphql, { query: 'fragment F on P { id } query A { p { ...F } }' }).operationName, undefined);
});

test('GET: variables from the query arguments, sent as a POST of JSON without the query string', async () => {
  const { result, ctx, json } = await sent({ query: PERSONS, variables: ['name', 'limit', 'absent'] }, 'GET', '/persons?name=Ann%20B&limit=2&other=x');
  assert.equal(result, undefined);
  assert.deepEqual(json, { query: PERSONS, variables: { name: 'Ann B', limit: '2' } });
  assert.equal(ctx.request.upstreamMethod, 'POST');
  assert.equal(ctx.request.upstreamUri, '/persons');
  assert.equal(ctx.request.headers['content-type'], 'application/json');
});

test('GET: a repeated argument gives a list', async () => {
  const { json } = await sent({ query: 'query($id: [ID!]) { a(id: $id) }', variables: ['id'] }, 'GET', '/?id=1&id=2');
  assert.deepEqual(json.variables, { id: ['1', '2'] });
});

test('POST: variables from the JSON body, keeping their types; the query string stays', async () => {
  const { result, ctx, json } = await sent({ query: PERSONS, variables: ['name', 'limit'] }, 'POST', '/p?trace=1',
    '{"name":"Ann","limit":2,"ignored":true}');
  assert.equal(result, undefined);
  assert.deepEqual(json, { query: PERSONS, variables: { name: 'Ann', limit: 2 } });
  assert.equal(ctx.request.upstreamUri, '/p?trace=1');
});

test('without variables the body is not read; operationName is sent when configured', async () => {
  const q = 'query A { a } query B { b }';
  const ctx = createTestContext({ method: 'POST' });
  ctx.request.body = () => { throw new Error('body read'); };
  const original = ctx.request.setBody;
  let body = '';
  ctx.request.setBody = (b) => { body = String(b); original(b); };
  assert.equal(await degraphql.access!(prepareWith(degraphql, { query: q, operation_name: 'B' }), ctx), undefined);
  assert.deepEqual(JSON.parse(body), { query: q, operationName: 'B' });
});

test('refusals: other methods 405; a POST body missing, not JSON or not an object 400', async () => {
  const conf = { query: PERSONS, variables: ['name'] };
  const put = await sent(conf, 'PUT', '/');
  assert.equal(put.result?.status, 405);
  for (const [body, reason] of [['', 'missing request body'], ['{', 'not JSON'], ['[1]', 'not a JSON object'], ['"x"', 'not a JSON object']]) {
    const r = await sent(conf, 'POST', '/', body);
    assert.equal(r.result?.status, 400, body);
    assert.match(String(r.ctx.setVars.get('degraphql_error')), new RegExp(reason!));
  }
});
