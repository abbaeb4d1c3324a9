import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import net, { type AddressInfo } from 'node:net';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { mcpServerConf, rawPost, startMcpRest, type McpRest, type RawAnswer } from '../../helpers/mcp-rest.js';
import { adminClient, type AdminCall } from '../admin/client.js';
import { logEntries, metricValue } from '../../helpers/observe.js';

// Streamable HTTP and JSON-RPC as raw requests, each on a connection of its own so the
// node's two workers take turns: sessions, error codes, batches, the refused methods and
// origins, and the configs the Admin API refuses.

let gw: Gateway;
let rest: McpRest;
let call: AdminCall;
const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

const post = (body: unknown, headers: Record<string, string> = {}): Promise<RawAnswer> =>
  rawPost(`${gw.url}/mcp`, typeof body === 'string' ? body : JSON.stringify(body), { ...JSON_HEADERS, ...headers });

async function openSession(): Promise<string> {
  const r = await post(INIT);
  assert.equal(r.status, 200, r.body);
  const id = r.headers['mcp-session-id'];
  assert.match(String(id), /^[A-Za-z0-9_-]{32}$/);
  return id as string;
}

before(async () => {
  rest = await startMcpRest();
  gw = await startGateway({ store: 'sqlite', workers: 2 });
  call = adminClient(gw);
  const r = await call('PUT', '/routes/mcp', { uri: '/mcp', plugins: {
    'mcp-server': mcpServerConf(rest.server.url),
    'file-logger': { path: 'mcp-raw.log', log_format: { pid: '$pid', test: '$http_x_test', status: '$status' } },
  } });
  assert.equal(r.status, 201, r.text);
  await eventually(async () => (await post(INIT)).status === 200);
});

after(async () => {
  await gw?.stop();
  rest?.close();
});

test('initialize: the session id, the negotiated version (the client\'s when known, else the newest), tools only', async () => {
  const r = await post(INIT);
  assert.equal(r.headers['content-type'], 'application/json');
  const body = JSON.parse(r.body);
  assert.deepEqual(body.result.capabilities, { tools: { listChanged: false } });
  assert.equal(body.result.protocolVersion, '2025-03-26');
  assert.equal(body.result.serverInfo.name, 'weather-server');
  const newer = JSON.parse((await post({ ...INIT, params: { ...INIT.params, protocolVersion: '2099-01-01' } })).body);
  assert.equal(newer.result.protocolVersion, '2025-06-18');
});

test('a session opened through one worker is known to both; DELETE through either ends it for both', async () => {
  const session = await openSession();
  for (let i = 0; i < 6; i++) {
    const r = await post({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'get_weather', arguments: { city: `c${i}` } } },
      { 'mcp-session-id': session, 'mcp-protocol-version': '2025-03-26', 'x-test': 'across' });
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).result.content[0].text, `c${i}: 21 degrees (metric), key rest-secret`);
  }
  const log = join(gw.dir, 'data', 'logs', 'mcp-raw.log');
  const across = (await logEntries(log, (l) => l.filter((e) => e.test === 'across').length === 6)).filter((e) => e.test === 'across');
  assert.equal(new Set(across.map((e) => e.pid)).size, 2, 'both workers answered');
  const ended = await rawPost(`${gw.url}/mcp`, undefined, { 'mcp-session-id': session }, 'DELETE');
  assert.equal(ended.status, 200);
  for (let i = 0; i < 4; i++) {
    const r = await post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': session, 'x-test': 'ended' });
    assert.equal(r.status, 404);
    assert.deepEqual(JSON.parse(r.body), { jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } });
  }
  assert.equal((await rawPost(`${gw.url}/mcp`, undefined, { 'mcp-session-id': session }, 'DELETE')).status, 404);
});

test('session rules: none is 400, an unknown one 404, an unsupported MCP-Protocol-Version 400', async () => {
  const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
  const none = await post(ping);
  assert.equal(none.status, 400);
  assert.match(JSON.parse(none.body).error.message, /Mcp-Session-Id header is required/);
  assert.equal((await post(ping, { 'mcp-session-id': 'A'.repeat(32) })).status, 404);
  assert.equal((await post(ping, { 'mcp-session-id': '../../etc' })).status, 404);
  const session = await openSession();
  assert.deepEqual(JSON.parse((await post(ping, { 'mcp-session-id': session })).body), { jsonrpc: '2.0', id: 1, result: {} });
  const old = await post(ping, { 'mcp-session-id': session, 'mcp-protocol-version': '1999-01-01' });
  assert.equal(old.status, 400);
  assert.match(JSON.parse(old.body).error.message, /unsupported MCP-Protocol-Version 1999-01-01/);
});

test('JSON-RPC errors: -32700 parse, -32600 invalid, -32601 method, -32602 params', async () => {
  const s = { 'mcp-session-id': await openSession() };
  const parse = await post('{"jsonrpc": "2.0", ', s);
  assert.equal(parse.status, 400);
  assert.equal(JSON.parse(parse.body).error.code, -32700);
  assert.equal(JSON.parse((await post('[]', s)).body).error.code, -32600);
  const cases: [unknown, number, RegExp][] = [
    [{ id: 2, method: 'ping' }, -32600, /jsonrpc must be "2.0"/],
    [{ jsonrpc: '2.0', id: 3, method: 'tools/list', params: [1] }, -32600, /params must be an object/],
    [{ jsonrpc: '2.0', id: 4 }, -32600, /needs a method/],
    [{ jsonrpc: '2.0', id: 5, method: 'resources/list' }, -32601, /Method not found: resources\/list/],
    [{ jsonrpc: '2.0', id: 6, method: 'tools/call', params: {} }, -32602, /name must be a string/],
    [{ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'nope' } }, -32602, /Unknown tool: nope/],
    [{ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'search', arguments: { q: 1 } } }, -32602, /q must be of type string/],
    [{ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'search', arguments: [] } }, -32602, /arguments must be an object/],
  ];
  for (const [msg, code, message] of cases) {
    const r = await post(msg, s);
    assert.equal(r.status, 200, r.body);
    const body = JSON.parse(r.body);
    assert.equal(body.error.code, code, r.body);
    assert.match(body.error.message, message);
  }
});

test('batches: one answer per request, in order; notifications and responses alone are 202 without a body', async () => {
  const s = { 'mcp-session-id': await openSession() };
  const r = await post([
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', id: 'a', method: 'ping' },
    { jsonrpc: '2.0', id: 'b', method: 'tools/call', params: { name: 'search', arguments: { q: 'x' } } },
    { jsonrpc: '2.0', id: 'c', method: 'nope' },
  ], s);
  assert.equal(r.status, 200);
  const answers = JSON.parse(r.body) as { id: string; result?: { content: { text: string }[] }; error?: { code: number } }[];
  assert.deepEqual(answers.map((a) => a.id), ['a', 'b', 'c']);
  assert.equal(answers[1]!.result!.content[0]!.text, 'results for ?q=x');
  assert.equal(answers[2]!.error!.code, -32601);
  const quiet = await post([{ jsonrpc: '2.0', method: 'notifications/initialized' }, { jsonrpc: '2.0', id: 9, result: {} }], s);
  assert.equal(quiet.status, 202);
  assert.equal(quiet.body, '');
  const init = await post([INIT, { jsonrpc: '2.0', id: 1, method: 'ping' }]);
  assert.equal(init.status, 400);
  assert.match(JSON.parse(init.body).error.message, /initialize must be sent alone/);
});

test('transport rules: GET 405, a foreign Origin 403, a non-JSON Content-Type 415, an Accept without JSON 406', async () => {
  const get = await rawPost(`${gw.url}/mcp`, undefined, { accept: 'text/event-stream' }, 'GET');
  assert.equal(get.status, 405);
  assert.equal(get.headers.allow, 'POST, DELETE');
  assert.equal((await post(INIT, { origin: 'https://evil.example' })).status, 403);
  assert.equal((await post(INIT, { origin: gw.url })).status, 200);
  assert.equal((await post(INIT, { 'content-type': 'text/plain' })).status, 415);
  assert.equal((await post(INIT, { accept: 'text/html' })).status, 406);
  assert.equal((await post(INIT, { accept: '*/*' })).status, 200);
});

test('allow_origins lets another site call', async () => {
  const conf = { ...mcpServerConf(rest.server.url), allow_origins: ['https://app.example'] };
  assert.equal((await call('PUT', '/routes/mcp-origins', { uri: '/mcp-origins', plugins: { 'mcp-server': conf } })).status, 201);
  const init = (origin: string): Promise<RawAnswer> => rawPost(`${gw.url}/mcp-origins`, JSON.stringify(INIT), { ...JSON_HEADERS, origin });
  await eventually(async () => (await init('https://app.example')).status === 200);
  assert.equal((await init(gw.url)).status, 403);
});

test('a REST API that does not answer in `timeout`, or not at all, is a tool error; both are counted', async () => {
  const spare = net.createServer();
  await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
  const closed = (spare.address() as AddressInfo).port; // free again once closed: connections to it are refused
  await new Promise((resolve) => spare.close(resolve));
  const conf = { server: { name: 'flaky' }, timeout: 300, tools: [
    { name: 'slow', description: 'Too slow', requestTemplate: { url: `${rest.server.url}/slow`, method: 'GET' } },
    { name: 'gone', description: 'Nobody listens', requestTemplate: { url: `http://127.0.0.1:${closed}/x`, method: 'GET' } },
  ] };
  assert.equal((await call('PUT', '/routes/mcp-flaky', { uri: '/mcp-flaky', plugins: { 'mcp-server': conf, prometheus: {} } })).status, 201);
  const flaky = (body: unknown, headers: Record<string, string> = {}): Promise<RawAnswer> =>
    rawPost(`${gw.url}/mcp-flaky`, JSON.stringify(body), { ...JSON_HEADERS, ...headers });
  await eventually(async () => (await flaky(INIT)).status === 200);
  const session = (await flaky(INIT)).headers['mcp-session-id'] as string;
  const started = Date.now();
  const slow = JSON.parse((await flaky({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow' } }, { 'mcp-session-id': session })).body);
  assert.ok(Date.now() - started < 1200, 'answered at the timeout, not when the API did');
  assert.deepEqual(slow.result, { content: [{ type: 'text', text: 'The REST API did not answer: no reply within 300 ms' }], isError: true });
  const gone = JSON.parse((await flaky({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'gone' } }, { 'mcp-session-id': session })).body);
  assert.equal(gone.result.isError, true);
  assert.match(gone.result.content[0].text, /^The REST API did not answer: /);
  await eventually(async () => (await metricValue(gw, 'gatehouse_mcp_server_calls_total{route="mcp-flaky",tool="slow",outcome="timeout"}')) === 1
    && (await metricValue(gw, 'gatehouse_mcp_server_calls_total{route="mcp-flaky",tool="gone",outcome="unreachable"}')) === 1);
});

test('configs the Admin API refuses, naming the field', async () => {
  const base = mcpServerConf(rest.server.url) as { server: Record<string, unknown>; tools: Record<string, any>[]; allowTools: string[] };
  const tool = (change: (t: Record<string, any>) => void): Record<string, unknown> => {
    const t = structuredClone(base.tools[0]!);
    change(t);
    return { server: base.server, tools: [t] };
  };
  const cases: [Record<string, unknown>, RegExp][] = [
    [tool((t) => { t.responseTemplate.body = '{{ .city | upper }}'; }), /tools\[0\]\.responseTemplate\.body: .*not supported/],
    [tool((t) => { t.requestTemplate.url += '?x={{.secret}}'; }), /tools\[0\]\.requestTemplate\.url: .*must start with \.args or \.config/],
    [tool((t) => { t.requestTemplate.headers[0].value = '{{if .args.city}}x{{end}}'; }), /tools\[0\]\.requestTemplate\.headers\[0\]\.value/],
    [tool((t) => { t.requestTemplate.body = '{{- .args.city -}}'; }), /tools\[0\]\.requestTemplate\.body: trim markers/],
    [tool((t) => { t.requestTemplate.url = 'ftp://127.0.0.1/x'; }), /tools\[0\]\.requestTemplate\.url: must start with http/],
    [tool((t) => { t.requestTemplate.url = 'http://{{.config.host}}/x'; }), /tools\[0\]\.requestTemplate\.url: must start with http/],
    [tool((t) => { t.requestTemplate.argsToJsonBody = true; t.requestTemplate.argsToUrlParam = true; }), /tools\[0\]\.requestTemplate: .*exclude each other/],
    [tool((t) => { t.requestTemplate.url = `${rest.server.url}/weather`; }), /tools\[0\]\.args\[0\]\.position: path, but requestTemplate\.url has no \{city\}/],
    [tool((t) => { t.responseTemplate.prependBody = 'x'; }), /tools\[0\]\.responseTemplate: body excludes/],
    [tool((t) => { t.requestTemplate.security = { id: 'k' }; }), /tools\[0\]\.requestTemplate\.security: not supported/],
    [tool((t) => { t.errorResponseTemplate = 'x'; }), /tools\[0\]\.errorResponseTemplate: not supported/],
    [tool((t) => { t.args[1].type = 'date'; }), /type/],
    [{ ...base, server: { ...base.server, securitySchemes: [] } }, /server\.securitySchemes: not supported/],
    [{ ...base, allowTools: ['get_weather', 'typo'] }, /allowTools: "typo" is not one of the tools/],
    [{ ...base, tools: [base.tools[0], base.tools[0]] }, /tools\[1\]\.name: "get_weather" appears twice/],
    [{ server: base.server, tools: [] }, /tools/],
    [{ tools: base.tools }, /server/],
  ];
  for (const [conf, message] of cases) {
    const r = await call('PUT', '/routes/mcp-bad', { uri: '/mcp-bad', plugins: { 'mcp-server': conf } });
    assert.equal(r.status, 400, `${JSON.stringify(conf).slice(0, 200)}: ${r.text}`);
    assert.match(r.body.error_msg, message);
  }
});
