import { test } from 'node:test';
import assert from 'node:assert/strict';
import plugin, { generateObject, toXml } from './mocking.js';
import { makeTestContext, prepareConf, schemaError } from '../../test/helpers/plugin-context-transform.js';
import type { PhaseResult } from '../contracts/plugin.js';

async function run(conf: Record<string, unknown>, init: Parameters<typeof makeTestContext>[0] = {}): Promise<PhaseResult> {
  const p = prepareConf(plugin, conf);
  return (await plugin.access!(p, makeTestContext(init))) as PhaseResult;
}

test('declares the authorization stage and priority 965', () => {
  assert.equal(plugin.name, 'mocking');
  assert.equal(plugin.stage, 'authorization');
  assert.equal(plugin.priority, 965);
});

test('response_example is returned with the defaults: 200, JSON content type, x-mock-by', async () => {
  const r = await run({ response_example: '{"a":1}' });
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"a":1}');
  assert.equal(r.headers!['Content-Type'], 'application/json;charset=utf8');
  assert.match(r.headers!['x-mock-by']!, /^Gatehouse\//);
});

test('response_status, content_type, with_mock_header, response_headers ($vars)', async () => {
  const r = await run({
    response_example: 'hi $arg_name', response_status: 201, content_type: 'text/plain', with_mock_header: false,
    response_headers: { 'X-Mock': 'for $arg_name', 'X-N': 7 },
  }, { target: '/?name=jack' });
  assert.deepEqual(r, { status: 201, body: 'hi jack', headers: { 'Content-Type': 'text/plain', 'X-Mock': 'for jack', 'X-N': '7' } });
});

test('response_schema generates a JSON value of the declared shape, using examples', async () => {
  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string', example: 'jack' },
      rand: { type: 'string' },
      age: { type: 'integer' },
      ratio: { type: 'number', example: 1.5 },
      ok: { type: 'boolean' },
      tags: { type: 'array', items: { type: 'string' } },
      nested: { type: 'object', properties: { id: { type: 'integer', example: 7.9 } } },
    },
  };
  const r = await run({ response_schema: schema });
  const v = JSON.parse(r.body as string);
  assert.equal(v.name, 'jack');
  assert.match(v.rand, /^[a-z]{1,10}$/);
  assert.ok(Number.isInteger(v.age) && v.age >= 1 && v.age <= 10000);
  assert.equal(v.ratio, 1.5);
  assert.equal(typeof v.ok, 'boolean');
  assert.ok(Array.isArray(v.tags) && v.tags.length >= 1 && v.tags.length <= 3);
  assert.deepEqual(v.nested, { id: 7 });
});

test('response_example wins over response_schema', async () => {
  const r = await run({ response_example: 'ex', response_schema: { type: 'object', properties: { a: { type: 'string' } } } });
  assert.equal(r.body, 'ex');
});

test('response_schema with an xml content type answers XML under <data>', async () => {
  const r = await run({ content_type: 'application/xml', response_schema: { type: 'object', properties: { a: { type: 'string', example: 'x<y' } } } });
  assert.equal(r.body, '<data><a>x&lt;y</a></data>');
  assert.equal(toXml({ l: [1, 2] }, 'data'), '<data><l>1</l><l>2</l></data>');
  assert.deepEqual(generateObject({}), {});
});

test('delay waits the given seconds', async () => {
  const p = prepareConf(plugin, { response_example: 'x', delay: 1 });
  const started = performance.now();
  const r = plugin.access!(p, makeTestContext());
  assert.ok(r instanceof Promise);
  await r;
  assert.ok(performance.now() - started >= 990);
});

test('schema: one of response_example or response_schema; errors name the field', () => {
  assert.ok(schemaError(plugin, {}) !== undefined);
  assert.match(schemaError(plugin, { response_example: 1 })!, /property "response_example" validation failed/);
  assert.match(schemaError(plugin, { response_example: 'x', response_status: 99 })!, /property "response_status" validation failed/);
  assert.match(schemaError(plugin, { response_example: 'x', delay: 0.5 })!, /property "delay" validation failed/);
  assert.equal(schemaError(plugin, { response_example: 'x', delay: -1 }), 'property "delay" validation failed: expected -1 to be at least 0');
  assert.match(schemaError(plugin, { response_schema: 'x' })!, /property "response_schema" validation failed/);
  assert.match(schemaError(plugin, { response_example: 'x', response_headers: { 'X-A': true } })!, /property "response_headers/);
});

test('response_status: 1xx and above 599 are refused, naming the field', () => {
  assert.equal(schemaError(plugin, { response_example: 'x', response_status: 101 }),
    'property "response_status" validation failed: expected 101 to be at least 200');
  assert.equal(schemaError(plugin, { response_example: 'x', response_status: 600 }),
    'property "response_status" validation failed: expected 600 to be at most 599');
  assert.equal(schemaError(plugin, { response_example: 'x', response_status: 599 }), undefined);
});

test('204 and 304 answers carry no body, whatever the example or schema gives', async () => {
  for (const response_status of [204, 304]) {
    assert.equal((await run({ response_example: 'hi', response_status })).body, '');
    assert.equal((await run({ response_schema: { type: 'object', properties: { a: { type: 'string' } } }, response_status })).body, '');
  }
  assert.equal((await run({ response_example: 'hi', response_status: 205 })).body, 'hi');
});

test('prepare refuses unsupported content types', () => {
  assert.throws(() => prepareConf(plugin, { response_example: 'x', content_type: 'image/png' }), /unsupported content type!/);
  assert.throws(() => prepareConf(plugin, { response_schema: { type: 'object' }, content_type: 'text/html' }), /response_schema only supports/);
  assert.ok(prepareConf(plugin, { response_example: 'x', content_type: 'text/html; charset=utf-8' }));
});
