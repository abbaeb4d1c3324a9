import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'example', uri: '/example', upstream, plugins: { mocking: {
        response_example: '{"a":1,"b":2}', response_status: 201, response_headers: { 'X-Mock-Route': 'example' },
      } } },
      { id: 'schema', uri: '/schema', upstream, plugins: { mocking: {
        response_schema: { type: 'object', properties: {
          name: { type: 'string', example: 'jack' }, age: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } },
        } },
      } } },
      { id: 'xml', uri: '/xml', upstream, plugins: { mocking: {
        content_type: 'application/xml', with_mock_header: false,
        response_schema: { type: 'object', properties: { field: { type: 'string', example: 'v' } } },
      } } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

test('response_example is answered without the upstream', async () => {
  const before = up.seen.length;
  const r = await get(gw.url + '/example');
  assert.equal(r.status, 201);
  assert.deepEqual(r.json(), { a: 1, b: 2 });
  assert.equal(r.headers['content-type'], 'application/json;charset=utf8');
  assert.match(r.headers['x-mock-by'] as string, /^Gatehouse\//);
  assert.equal(r.headers['x-mock-route'], 'example');
  assert.equal(up.seen.length, before);
});

test('response_schema generates a JSON value', async () => {
  const r = await get(gw.url + '/schema');
  assert.equal(r.status, 200);
  const v = r.json();
  assert.equal(v.name, 'jack');
  assert.ok(Number.isInteger(v.age));
  assert.ok(Array.isArray(v.tags));
});

test('response_schema as XML, without the mock header', async () => {
  const r = await get(gw.url + '/xml');
  assert.equal(r.body, '<data><field>v</field></data>');
  assert.equal(r.headers['content-type'], 'application/xml');
  assert.equal(r.headers['x-mock-by'], undefined);
});
