import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildSchema, graphql } from 'graphql';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from '../../helpers/loopback-server.js';
import { get } from '../../helpers/http.js';
import { adminClient, routeTo, type AdminCall } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

// The upstream is a real GraphQL server (graphql-js executing a schema) that, as the
// GraphQL-over-HTTP spec allows, takes only POSTs of JSON: what degraphql must send it.
const schema = buildSchema(`
  type Person { id: ID!, name: String! }
  type Query { persons(name: String, limit: Int): [Person!]! }
  type Mutation { addPerson(name: String!): Person! }
`);
const PEOPLE = [{ id: '1', name: 'Ann' }, { id: '2', name: 'Bob' }, { id: '3', name: 'Ann' }];
const rootValue = {
  persons: ({ name, limit }: { name?: string; limit?: number }) =>
    PEOPLE.filter((p) => name === undefined || p.name === name).slice(0, limit ?? PEOPLE.length),
  addPerson: ({ name }: { name: string }) => ({ id: String(PEOPLE.length + 1), name }),
};

let gw: Gateway;
let gql: LoopbackServer;
let call: AdminCall;
const received: ReceivedRequest[] = [];

before(async () => {
  gql = await startLoopbackServer((req, res) => {
    received.push(req);
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/json') {
      res.writeHead(405, { 'content-type': 'text/plain' }).end('POST application/json only');
      return;
    }
    const { query, operationName, variables } = JSON.parse(req.body.toString()) as Record<string, never>;
    void graphql({ schema, source: query, operationName, variableValues: variables, rootValue }).then((result) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
    });
  });
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  call = adminClient(gw);
  const port = Number(new URL(gql.url).port);
  const logger = { prometheus: {}, 'file-logger': { path: 'dg.log', log_format: { uri: '$request_uri', error: '$degraphql_error' } } };
  for (const [id, conf] of [
    ['dg-get', { query: 'query($name: String) { persons(name: $name) { id name } }', variables: ['name'] }],
    ['dg-post', { query: 'query People($name: String, $limit: Int) { persons(name: $name, limit: $limit) { id } }', variables: ['name', 'limit'] }],
    ['dg-ops', { query: 'query All { persons { id } } mutation Add($name: String!) { addPerson(name: $name) { id name } }', operation_name: 'Add', variables: ['name'] }],
  ] as const) {
    const r = await call('PUT', `/routes/${id}`, { ...routeTo(`/${id}/*`, port), plugins: { degraphql: conf, ...logger } });
    assert.equal(r.status, 201, r.text);
  }
  await eventually(async () => (await get(gw.url + '/dg-ops/x', { method: 'POST', body: '{"name":"Eve"}' })).status === 200);
});

after(async () => {
  await gw?.stop();
  gql?.server.close();
});

test('a GET with query arguments reaches the GraphQL server as a POST of JSON, and its answer comes back', async () => {
  received.length = 0;
  const r = await get(gw.url + '/dg-get/persons?name=Ann&unrelated=1');
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(r.json(), { data: { persons: [{ id: '1', name: 'Ann' }, { id: '3', name: 'Ann' }] } });
  const sent = received.at(-1)!;
  assert.equal(sent.method, 'POST');
  assert.equal(sent.url, '/dg-get/persons', 'the arguments are not forwarded in the query string');
  assert.equal(sent.headers['content-type'], 'application/json');
  assert.equal(Number(sent.headers['content-length']), sent.body.length);
  assert.deepEqual(JSON.parse(sent.body.toString()), {
    query: 'query($name: String) { persons(name: $name) { id name } }', variables: { name: 'Ann' },
  });
  const all = await get(gw.url + '/dg-get/persons');
  assert.equal(all.json().data.persons.length, 3, 'a missing variable is left out');
});

test('a POST JSON body gives typed variables; several operations run the configured one', async () => {
  const r = await get(gw.url + '/dg-post/people', { method: 'POST', body: '{"name":"Ann","limit":1}', headers: { 'content-type': 'application/json' } });
  assert.deepEqual(r.json(), { data: { persons: [{ id: '1' }] } });
  const add = await get(gw.url + '/dg-ops/add', { method: 'POST', body: '{"name":"Eve"}' });
  assert.deepEqual(add.json(), { data: { addPerson: { id: '4', name: 'Eve' } } });
  assert.equal(JSON.parse(received.at(-1)!.body.toString()).operationName, 'Add');
});

test('refused: other methods 405, a POST body that is not a JSON object 400, logged in $degraphql_error', async () => {
  const before = received.length;
  assert.equal((await get(gw.url + '/dg-post/x?m', { method: 'DELETE' })).status, 405);
  assert.equal((await get(gw.url + '/dg-post/x?missing', { method: 'POST' })).status, 400);
  const bad = await get(gw.url + '/dg-post/x?list', { method: 'POST', body: '[1,2]' });
  assert.equal(bad.status, 400);
  assert.match(bad.json().message, /not a JSON object/);
  assert.equal(received.length, before, 'no refused request reaches the upstream');
  const log = join(gw.dir, 'data', 'logs', 'dg.log');
  assert.match(String((await logEntry(log, 'uri', '/dg-post/x?missing')).error), /missing request body/);
  assert.match(String((await logEntry(log, 'uri', '/dg-post/x?m')).error), /method DELETE/);
  assert.equal(await metricValue(gw, 'gatehouse_plugin_responses_total{plugin="degraphql",route="dg-post",code="400"}'), 2);
});

test('bad config is refused with a 400 naming the field or the query\'s fault', async () => {
  for (const [conf, message] of [
    [{}, /query/],
    [{ query: '{ persons ' }, /failed to parse query: Syntax Error/],
    [{ query: 'query { persons(name: $n) { id } }' }, /Variable "\$n" is not defined/],
    [{ query: 'query A { persons { id } } query B { persons { id } }' }, /operation_name is required/],
    [{ query: 'query A { persons { id } }', operation_name: 'B' }, /operation_name "B"/],
    [{ query: '{ persons { id } }', variables: [] }, /variables/],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', 1), plugins: { degraphql: conf } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, message);
  }
});
