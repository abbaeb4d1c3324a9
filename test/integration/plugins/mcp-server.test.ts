import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { mcpServerConf, rawPost, startMcpRest, type McpRest } from '../../helpers/mcp-rest.js';
import { adminClient } from '../admin/client.js';
import { logEntries, metricValue } from '../../helpers/observe.js';

// Through the gateway with the official MCP client (its Streamable HTTP transport): a route
// with key-auth and mcp-server and no upstream; the tools call a loopback REST API.

let gw: Gateway;
let rest: McpRest;
const APIKEY = { apikey: 'jack-key' };

async function connect(headers: Record<string, string> = APIKEY): Promise<Client> {
  const client = new Client({ name: 'gatehouse-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers } }));
  return client;
}

const text = (r: Record<string, unknown>): string => ((r.content as { type: string; text: string }[])[0]!).text;

before(async () => {
  rest = await startMcpRest();
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  const call = adminClient(gw);
  assert.equal((await call('PUT', '/consumers/jack', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } })).status, 201);
  const r = await call('PUT', '/routes/mcp', { uri: '/mcp', plugins: {
    'key-auth': {}, 'mcp-server': mcpServerConf(rest.server.url), prometheus: {},
    'file-logger': { path: 'mcp.log', log_format: { id: '$http_x_test_id', method: '$mcp_server_method', tool: '$mcp_server_tool', consumer: '$consumer_name', http_method: '$request_method', status: '$status' } },
  } });
  assert.equal(r.status, 201, r.text);
  await eventually(async () => (await rawPost(`${gw.url}/mcp`, '{}', { 'content-type': 'application/json' })).status === 401);
});

after(async () => {
  await gw?.stop();
  rest?.close();
});

test('the official client initializes and lists the allowed tools with their argument schemas', async () => {
  const client = await connect();
  try {
    assert.equal(client.getServerVersion()?.name, 'weather-server');
    assert.deepEqual(client.getServerCapabilities()?.tools, { listChanged: false });
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ['get_weather', 'create_order', 'search', 'add_note', 'broken']);
    assert.deepEqual(tools[0]!.inputSchema, { type: 'object', required: ['city'], properties: {
      city: { type: 'string', description: 'City name' },
      units: { type: 'string', description: 'Units', default: 'metric', enum: ['metric', 'imperial'] } } });
  } finally {
    await client.close();
  }
});

test('tools/call: path, query and header args, a config value and the response template', async () => {
  const client = await connect();
  try {
    const r = await client.callTool({ name: 'get_weather', arguments: { city: 'Paris Nord' } });
    assert.equal(r.isError, false);
    assert.equal(text(r), 'Paris Nord: 21 degrees (metric), key rest-secret');
    const sent = rest.received.at(-1)!;
    assert.equal(sent.method, 'GET');
    assert.equal(sent.url, '/weather/Paris%20Nord?units=metric');
    assert.equal(sent.headers['x-api-key'], 'rest-secret');
    assert.equal(sent.headers.apikey, undefined, 'the client\'s own headers are not sent to the REST API');
  } finally {
    await client.close();
  }
});

test('tools/call: a JSON body from the args, a cookie arg, prependBody/appendBody; argsToUrlParam; a body template', async () => {
  const client = await connect();
  try {
    const order = await client.callTool({ name: 'create_order', arguments: { item: 'tea', qty: 2, session: 's 1' } });
    assert.equal(text(order), 'Order: {"got":"{\\"item\\":\\"tea\\",\\"qty\\":2}","type":"application/json; charset=utf-8","cookie":"session=s%201"}.');
    assert.equal(rest.received.at(-1)!.method, 'POST');
    assert.equal(text(await client.callTool({ name: 'search', arguments: { q: 'a&b', limit: 3 } })), 'results for ?q=a%26b&limit=3');
    const note = await client.callTool({ name: 'add_note', arguments: { text: 'say "hi"', tags: ['x'] } });
    assert.equal(JSON.parse(text(note)).got, '{"note": "say \\"hi\\"", "tags": ["x"]}');
    assert.equal(rest.received.at(-1)!.method, 'PUT');
  } finally {
    await client.close();
  }
});

test('a REST error is a tool error (isError); an unknown, disallowed or badly called tool is -32602', async () => {
  const client = await connect();
  try {
    const r = await client.callTool({ name: 'broken', arguments: {} });
    assert.equal(r.isError, true);
    assert.equal(text(r), 'The REST API answered 500: boom');
    const before = rest.received.length;
    await assert.rejects(client.callTool({ name: 'hidden', arguments: {} }), (e: Error & { code?: number }) => e.code === -32602 && /Unknown tool: hidden/.test(e.message));
    await assert.rejects(client.callTool({ name: 'get_weather', arguments: { units: 'metric' } }), (e: Error & { code?: number }) => e.code === -32602 && /city is required/.test(e.message));
    await assert.rejects(client.callTool({ name: 'get_weather', arguments: { city: 'X', units: 'kelvin' } }), (e: Error & { code?: number }) => e.code === -32602 && /units must be one of/.test(e.message));
    assert.equal(rest.received.length, before, 'no REST call for a refused one');
  } finally {
    await client.close();
  }
});

test('key-auth runs first: without a key the client gets 401 and no MCP message is read', async () => {
  const r = await rawPost(`${gw.url}/mcp`, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    { 'content-type': 'application/json', accept: 'application/json, text/event-stream' });
  assert.equal(r.status, 401);
  assert.equal(r.headers['mcp-session-id'], undefined);
  await assert.rejects(connect({}), (e: Error & { code?: number }) => e.code === 401 && /Missing API key/.test(e.message));
});

test('log fields and metrics: $mcp_server_method, $mcp_server_tool, gatehouse_mcp_server_calls_total', async () => {
  const client = await connect({ ...APIKEY, 'x-test-id': 'observed' });
  try {
    await client.callTool({ name: 'get_weather', arguments: { city: 'Oslo' } });
    await client.callTool({ name: 'broken', arguments: {} });
  } finally {
    await client.close();
  }
  const log = join(gw.dir, 'data', 'logs', 'mcp.log');
  const entries = (await logEntries(log, (list) => list.some((e) => e.id === 'observed' && e.tool === 'broken'))).filter((e) => e.id === 'observed');
  // the client also tries GET for a stream of server messages (405: none is offered), concurrently
  const rows = (list: unknown[][]): string[] => list.map((r) => JSON.stringify(r)).sort();
  assert.deepEqual(rows(entries.map((e) => [e.http_method, e.status, e.method, e.tool, e.consumer])), rows([
    ['POST', 200, 'initialize', null, 'jack'], ['POST', 202, 'notifications/initialized', null, 'jack'], ['GET', 405, null, null, 'jack'],
    ['POST', 200, 'tools/call', 'get_weather', 'jack'], ['POST', 200, 'tools/call', 'broken', 'jack'],
  ]));
  assert.ok(await metricValue(gw, 'gatehouse_mcp_server_calls_total{route="mcp",tool="get_weather",outcome="ok"}') >= 2);
  assert.ok(await metricValue(gw, 'gatehouse_mcp_server_calls_total{route="mcp",tool="broken",outcome="http_error"}') >= 2);
  assert.ok(await metricValue(gw, 'gatehouse_mcp_server_calls_total{route="mcp",tool="get_weather",outcome="invalid_arguments"}') >= 2);
});
