import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { adminClient, routeTo, type AdminCall } from '../admin/client.js';

// oauth through the real gateway: tokens from the token endpoint of a route, used on it,
// refused elsewhere; the consumer it identifies seen by consumer-restriction; bad config
// refused by the Admin API; client_secret masked for viewers and never logged.

const SECRET_1 = 'app1-secret-in-clear';
const CONSUMERS = [
  { name: 'app1', client_id: 'id-001', client_secret: SECRET_1 },
  { name: 'app2', client_id: 'id-002', client_secret: 'app2-secret' },
];
const adminKeys = [
  { name: 'a', key: 'oauth-admin-key-0001', role: 'admin' as const },
  { name: 'v', key: 'oauth-viewer-key-001', role: 'viewer' as const },
];

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;

async function token(path: string, clientId = 'id-001', secret = SECRET_1): Promise<string> {
  const r = await get(`${gw.url}${path}?grant_type=client_credentials&client_id=${clientId}&client_secret=${secret}`);
  assert.equal(r.status, 200, r.body);
  assert.match(String(r.headers['content-type']), /application\/json/);
  return (JSON.parse(r.body) as { access_token: string }).access_token;
}

before(async () => {
  up = await startUpstream('a');
  gw = await startGateway({ store: 'sqlite', workers: 1, adminKeys, extra: { log_dir: '.' } });
  call = adminClient(gw);
  for (const [id, uri, plugins] of [
    ['oa', '/oa/*', {
      oauth: { consumers: CONSUMERS, token_ttl: 600, keep_token: false },
      'consumer-restriction': { whitelist: ['app1'] },
      'file-logger': { path: 'oauth.log', log_format: { uri: '$request_uri', result: '$oauth_result', client: '$oauth_client_id', consumer: '$consumer_name' } },
    }],
    ['per', '/per/*', { oauth: { consumers: CONSUMERS, global_credentials: false, allow: ['app1'] } }],
  ] as const) {
    const put = await call('PUT', `/routes/${id}`, { ...routeTo(uri, up.port), plugins }, { key: adminKeys[0]!.key });
    assert.equal(put.status, 201, put.text);
  }
  await eventually(async () => (await get(gw.url + '/oa/x')).status === 401);
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

test('a token from the route\'s token endpoint (GET or POST) lets requests through as its consumer', async () => {
  const viaGet = await token('/oa/oauth2/token');
  assert.equal(decodeJwt(viaGet).sub, 'app1');
  const post = await get(gw.url + '/oa/oauth2/token', {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `grant_type=client_credentials&client_id=id-001&client_secret=${SECRET_1}`,
  });
  assert.equal(post.status, 200, post.body);
  assert.equal(JSON.parse(post.body).expires_in, 600);
  const before = up.seen.length;
  for (const t of [viaGet, JSON.parse(post.body).access_token as string]) {
    const r = await get(gw.url + '/oa/hello', { headers: { authorization: `Bearer ${t}`, 'x-mse-consumer': 'forged' } });
    assert.equal(r.status, 200, r.body);
    const seen = up.seen.at(-1)!;
    assert.equal(seen.headers['x-mse-consumer'], 'app1');
    assert.equal(seen.headers['x-consumer-username'], 'app1');
    assert.equal(seen.headers.authorization, undefined, 'keep_token: false');
  }
  assert.equal(up.seen.length, before + 2, 'the token endpoint never reaches the upstream');
});

test('the consumer is attached: consumer-restriction refuses app2\'s good token', async () => {
  const r = await get(gw.url + '/oa/hello', { headers: { authorization: `Bearer ${await token('/oa/oauth2/token', 'id-002', 'app2-secret')}` } });
  assert.equal(r.status, 403);
  assert.match(r.body, /consumer_name is forbidden/);
});

test('missing, bad and foreign tokens get 401 Invalid Jwt token with the Bearer challenge', async () => {
  const foreign = await token('/oa/oauth2/token');
  for (const headers of [{}, { authorization: 'Bearer x.y.z' }, { authorization: `Bearer ${foreign}x` }] as Record<string, string>[]) {
    const r = await get(gw.url + '/oa/hello?a=1', { headers });
    assert.equal(r.status, 401);
    assert.equal(r.body, 'Invalid Jwt token');
    assert.equal(r.headers['www-authenticate'], `Bearer realm="http://127.0.0.1:${gw.httpPort}/oa/hello?a=1"`);
  }
  const wrongSecret = await get(`${gw.url}/oa/oauth2/token?grant_type=client_credentials&client_id=id-001&client_secret=nope`);
  assert.deepEqual([wrongSecret.status, wrongSecret.body], [400, 'invalid client_id or client_secret']);
});

test('without global_credentials a token is good on its own route only; allow limits the consumers', async () => {
  const mine = await token('/per/oauth2/token');
  assert.equal(decodeJwt(mine).aud, 'per');
  assert.equal((await get(gw.url + '/per/x', { headers: { authorization: `Bearer ${mine}` } })).status, 200);
  const global = await token('/oa/oauth2/token');
  assert.deepEqual(await get(gw.url + '/per/x', { headers: { authorization: `Bearer ${global}` } }).then((r) => [r.status, r.body]),
    [403, 'Access Denied']);
  const app2 = await token('/per/oauth2/token', 'id-002', 'app2-secret');
  assert.equal((await get(gw.url + '/per/x', { headers: { authorization: `Bearer ${app2}` } })).status, 403);
});

test('log fields $oauth_result, $oauth_client_id and the metrics', async () => {
  const t = await token('/oa/oauth2/token');
  await get(gw.url + '/oa/log-ok', { headers: { authorization: `Bearer ${t}` } });
  await get(gw.url + '/oa/log-bad', { headers: { authorization: 'Bearer nope' } });
  type Entry = { uri: string; result?: string; client?: string; consumer?: string };
  let entries: Entry[] = [];
  await eventually(async () => {
    const text = await readFile(join(gw.dir, 'oauth.log'), 'utf8').catch(() => '');
    entries = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Entry);
    return entries.some((e) => e.uri === '/oa/log-bad');
  });
  const ok = entries.find((e) => e.uri === '/oa/log-ok')!;
  assert.deepEqual([ok.result, ok.client, ok.consumer], ['authenticated', 'id-001', 'app1']);
  assert.equal(entries.find((e) => e.uri === '/oa/log-bad')!.result, 'invalid_token');
  assert.equal(entries.find((e) => e.uri.startsWith('/oa/oauth2/token'))!.result, 'token_issued');
  const metrics = (await get(gw.metricsUrl)).body;
  assert.match(metrics, /^gatehouse_oauth_tokens_issued_total\{consumer="app1"\} [1-9]/m);
  assert.match(metrics, /^gatehouse_oauth_refused_total\{reason="invalid_token"\} [1-9]/m);
  assert.match(metrics, /^gatehouse_oauth_refused_total\{reason="bad_token_request"\} [1-9]/m);
  assert.match(metrics, /^gatehouse_oauth_refused_total\{reason="access_denied"\} [1-9]/m);
});

test('client_secret is masked for Admin API viewers, kept for admins, never logged', async () => {
  const read = (key: string) => call('GET', '/routes/oa', undefined, { key });
  const viewer = await read(adminKeys[1]!.key);
  assert.equal(viewer.status, 200);
  assert.deepEqual(viewer.body.value.plugins.oauth.consumers.map((c: { client_secret: string }) => c.client_secret), ['******', '******']);
  assert.match((await read(adminKeys[0]!.key)).text, new RegExp(SECRET_1));
  assert.doesNotMatch(gw.output(), new RegExp(SECRET_1));
  assert.doesNotMatch(await readFile(join(gw.dir, 'oauth.log'), 'utf8'), new RegExp(SECRET_1));
});

test('bad config is refused with a 400 naming the field', async () => {
  const one = [CONSUMERS[0]];
  for (const [conf, field] of [
    [{}, 'consumers'],
    [{ consumers: [] }, 'consumers'],
    [{ consumers: [{ name: 'a', client_id: 'b' }] }, 'client_secret'],
    [{ consumers: one, token_ttl: 0 }, 'token_ttl'],
    [{ consumers: one, keep_token: 'no' }, 'keep_token'],
    [{ consumers: one, auth_header_name: 'X' }, 'auth_header_name'],
    [{ consumers: [...CONSUMERS, { name: 'app3', client_id: 'id-001', client_secret: 's' }] }, 'consumers\\[2\\]\\.client_id'],
    [{ consumers: [...CONSUMERS, { name: 'app1', client_id: 'id-009', client_secret: 's' }] }, 'consumers\\[2\\]\\.name'],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { oauth: conf } }, { key: adminKeys[0]!.key });
    assert.equal(r.status, 400, `${JSON.stringify(conf)}: ${r.text}`);
    assert.match(r.body.error_msg, new RegExp(field));
    assert.doesNotMatch(r.text, /app2-secret/, 'the refusal does not quote secrets');
  }
});
