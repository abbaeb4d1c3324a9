import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// A route whose `vars` hold a catastrophic-backtracking pattern used to freeze the
// worker that evaluated it (both, once each got such a request). Patterns now run on
// RE2, so the request is answered and the worker keeps serving.

let gw: Gateway;
let up: TestUpstream;

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${gw.adminUrl}${path}`, {
    method, headers: { 'x-api-key': gw.adminKey, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  up = await startUpstream('a');
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const routes: Record<string, unknown>[] = [
    { uri: '/evil', vars: [['arg_x', '~~', '^(a+)+$']], upstream },
    { uri: '/meta', upstream, plugins: {
      'proxy-rewrite': { headers: { set: { 'x-filtered': 'yes' } }, _meta: { filter: [['arg_x', '~*', '^(A|AA)+$']] } },
    } },
    { uri: '/ok', upstream },
  ];
  for (const [i, r] of routes.entries()) assert.equal((await admin('PUT', `/routes/r${i}`, r)).status, 201);
  await eventually(async () => (await get(`${gw.url}/ok`)).status === 200);
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

test('a catastrophic vars pattern answers, and the worker still serves the next request', { timeout: 20000 }, async () => {
  const adversarial = 'a'.repeat(40) + '!';
  assert.equal((await get(`${gw.url}/evil?x=${adversarial}`)).status, 404);
  assert.equal((await get(`${gw.url}/evil?x=${'a'.repeat(40)}`)).status, 200);
  assert.equal((await get(`${gw.url}/ok`)).status, 200);
});

test('a catastrophic _meta.filter pattern answers, and the worker still serves', { timeout: 20000 }, async () => {
  assert.equal((await get(`${gw.url}/meta?x=${'a'.repeat(40)}!`)).status, 200);
  assert.equal(up.seen.at(-1)!.headers['x-filtered'], undefined);
  assert.equal((await get(`${gw.url}/meta?x=aaaa`)).status, 200);
  assert.equal(up.seen.at(-1)!.headers['x-filtered'], 'yes');
  assert.equal((await get(`${gw.url}/ok`)).status, 200);
});

test('patterns RE2 cannot run are refused at write time with a 400 naming the field', async () => {
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const vars = await admin('PUT', '/routes/bad1', { uri: '/b', vars: [['arg_x', '~~', '^(a)\\1$']], upstream });
  assert.equal(vars.status, 400);
  assert.match(vars.body.error_msg, /vars.*back references .* not supported by the linear-time regex engine/);
  const filter = await admin('PUT', '/routes/bad2', { uri: '/b', upstream, plugins: {
    'proxy-rewrite': { _meta: { filter: [['arg_x', '~~', 'a(?=b)']] } } } });
  assert.equal(filter.status, 400);
  assert.match(filter.body.error_msg, /_meta\.filter.*lookahead assertions are not supported/);
  const rewrite = await admin('PUT', '/routes/bad3', { uri: '/b', upstream, plugins: {
    'proxy-rewrite': { regex_uri: ['^/(?<!x)b', '/c'] } } });
  assert.equal(rewrite.status, 400);
  assert.match(rewrite.body.error_msg, /proxy-rewrite.*lookbehind assertions are not supported/);
  const list = await admin('GET', '/routes?uri=(a)\\1');
  assert.equal(list.status, 400);
  assert.match(list.body.error_msg, /invalid uri filter: back references/);
});
