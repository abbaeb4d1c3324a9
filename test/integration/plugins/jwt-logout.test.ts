import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get, type SimpleResponse } from '../../helpers/http.js';
import { startRedis, type TestRedis } from '../../helpers/redis-server.js';

// jwt-logout through real gateways: node A with two workers (policy `local`: the
// revocation list lives in its primary, so a logout through one worker holds on the
// other), node B with one; both share a real Redis for the `redis` policy route, so a
// logout on A is refused on B too.

/** Every response says which worker answered it. */
const PID = { 'serverless-post-function': { phase: 'header_filter', functions: ["(conf, ctx) => { ctx.response.setHeader('x-worker-pid', String(ctx.var.pid)) }"] } };
const secret = new TextEncoder().encode('jack-secret');
const sign = (claims: Record<string, unknown> = { jti: randomUUID() }): Promise<string> =>
  new SignJWT({ key: 'jack-key', ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setExpirationTime('10m').sign(secret);

let redis: TestRedis;
let up: TestUpstream;
let nodeA: Gateway;
let nodeB: Gateway;

function config(redisPort: number): Record<string, unknown> {
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const log = { 'file-logger': { path: 'jwt-logout.log', log_format: { uri: '$request_uri', result: '$jwt_logout_result' } } };
  return {
    consumers: [{ username: 'jack', plugins: { 'jwt-auth': { key: 'jack-key', secret: 'jack-secret' } } }],
    routes: [
      { id: 'jl', uri: '/jl/*', upstream, plugins: { ...PID, ...log, 'jwt-auth': {}, 'jwt-logout': { clear_cookie: 'jwt' } } },
      { id: 'other', uri: '/other/*', upstream, plugins: { 'jwt-auth': { hide_credentials: true }, 'jwt-logout': {} } },
      { id: 'oa', uri: '/oa/*', upstream, plugins: {
        oauth: { consumers: [{ name: 'app1', client_id: 'id-1', client_secret: 'app1-secret' }] }, 'jwt-logout': {},
      } },
      { id: 'jr', uri: '/jr/*', upstream, plugins: {
        'jwt-auth': {}, 'jwt-logout': { policy: 'redis', redis_host: '127.0.0.1', redis_port: redisPort },
      } },
    ],
  };
}

before(async () => {
  [redis, up] = await Promise.all([startRedis(), startUpstream('a')]);
  const c = config(redis.port);
  [nodeA, nodeB] = await Promise.all([
    startGateway({ config: c, workers: 2, extra: { log_dir: '.' } }),
    startGateway({ config: c, workers: 1, extra: { log_dir: '.' } }),
  ]);
});

after(async () => {
  await Promise.all([nodeA?.stop(), nodeB?.stop()]);
  await Promise.all([redis?.close(), up?.close()]);
});

/** A request on a connection of its own (so consecutive requests go to alternating workers). */
const fresh = (gw: Gateway, path: string, token: string, method = 'GET'): Promise<SimpleResponse> =>
  get(gw.url + path, { method, headers: { connection: 'close', authorization: `Bearer ${token}` } });
const pid = (r: SimpleResponse): string => String(r.headers['x-worker-pid']);

async function many(gw: Gateway, path: string, token: string, n: number): Promise<SimpleResponse[]> {
  const out: SimpleResponse[] = [];
  for (let i = 0; i < n; i++) out.push(await fresh(gw, path, token));
  return out;
}

test('a token logged out through one worker is refused by every worker afterwards; other tokens pass', async () => {
  const token = await sign();
  const before = await many(nodeA, '/jl/x', token, 10);
  assert.deepEqual(new Set(before.map((r) => r.status)), new Set([200]));
  assert.equal(new Set(before.map(pid)).size, 2, 'both workers answered');

  const out = await fresh(nodeA, '/jl/logout', token, 'POST');
  assert.equal(out.status, 200, out.body);
  assert.deepEqual(out.json(), { message: 'logged out' });
  assert.match(String(out.headers['set-cookie']), /^jwt=; Max-Age=0/);

  const after = await many(nodeA, '/jl/x', token, 40);
  assert.deepEqual(after.map((r) => r.status), Array(40).fill(401));
  assert.equal(new Set(after.map(pid)).size, 2, 'both workers refused it');
  assert.deepEqual(after[0]!.json(), { message: 'JWT token has been revoked' });
  assert.match(String(after[0]!.headers['www-authenticate']), /error="invalid_token"/);
  // another route bound with jwt-logout shares the list (its jwt-auth even hides the token upstream)
  assert.equal((await fresh(nodeA, '/other/x', token)).status, 401);
  // the same consumer's other token is not touched
  assert.equal((await fresh(nodeA, '/jl/x', await sign())).status, 200);
});

test('a token of oauth is revoked the same way', async () => {
  const issued = await get(nodeA.url + '/oa/oauth2/token?grant_type=client_credentials&client_id=id-1&client_secret=app1-secret');
  const token = (JSON.parse(issued.body) as { access_token: string }).access_token;
  assert.equal((await fresh(nodeA, '/oa/x', token)).status, 200);
  assert.equal((await fresh(nodeA, '/oa/logout', token, 'POST')).status, 200);
  assert.deepEqual((await many(nodeA, '/oa/x', token, 10)).map((r) => r.status), Array(10).fill(401));
});

test('policy redis: a logout on one node is refused on the other; Redis holds only hashes', async () => {
  const token = await sign();
  assert.equal((await fresh(nodeB, '/jr/x', token)).status, 200);
  assert.equal((await fresh(nodeA, '/jr/logout', token, 'POST')).status, 200);
  for (const gw of [nodeB, nodeA]) assert.deepEqual((await many(gw, '/jr/x', token, 6)).map((r) => r.status), Array(6).fill(401));
  const keys = (await redis.cli('--raw', 'keys', '*')).trim().split('\n');
  assert.equal(keys.length, 1);
  assert.match(keys[0]!, /^gatehouse:mark:jwt-logout:[A-Za-z0-9_-]{43}$/);
  const ttl = Number((await redis.cli('pttl', keys[0]!)).trim());
  assert.ok(ttl > 500_000 && ttl <= 600_000, `revoked until the token expires (${ttl} ms)`);
  // policy local is per node: node B never heard of node A's local logout
  const local = await sign();
  await fresh(nodeA, '/jl/logout', local, 'POST');
  assert.equal((await fresh(nodeB, '/jl/x', local)).status, 200);
});

test('the logout path without a verified token is 401; other methods there go upstream', async () => {
  const r = await get(nodeA.url + '/jl/logout', { method: 'POST' });
  assert.equal(r.status, 401, 'jwt-auth refuses it first');
  const token = await sign();
  assert.equal((await fresh(nodeA, '/jl/logout', token, 'GET')).status, 200);
  assert.equal((await fresh(nodeA, '/jl/x', token)).status, 200, 'a GET does not log out by default');
});

test('log fields $jwt_logout_result and the metrics', async () => {
  const token = await sign();
  await fresh(nodeB, '/jl/log-passed', token);
  await fresh(nodeB, '/jl/logout', token, 'POST');
  await fresh(nodeB, '/jl/log-revoked', token);
  type Entry = { uri: string; result?: string };
  let entries: Entry[] = [];
  await eventually(async () => {
    const text = await readFile(join(nodeB.dir, 'jwt-logout.log'), 'utf8').catch(() => '');
    entries = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Entry);
    return entries.some((e) => e.uri === '/jl/log-revoked');
  });
  const result = (uri: string): string | undefined => entries.find((e) => e.uri === uri)?.result;
  assert.deepEqual([result('/jl/log-passed'), result('/jl/logout'), result('/jl/log-revoked')], ['passed', 'logged_out', 'revoked']);
  const metrics = (await get(nodeB.metricsUrl)).body;
  assert.match(metrics, /^gatehouse_jwt_logout_revocations_total [1-9]/m);
  assert.match(metrics, /^gatehouse_jwt_logout_refused_total [1-9]/m);
});

test('bad config is refused with a 400 naming the field', () => withPluginRoutes('jwt-logout', async (put) => {
  for (const [conf, field] of [
    [{ logout_path: 'logout' }, 'logout_path'],
    [{ logout_methods: [] }, 'logout_methods'],
    [{ ttl_without_exp: -1 }, 'ttl_without_exp'],
    [{ clear_cookie: 'a b' }, 'clear_cookie'],
    [{ policy: 'redis' }, 'redis_host'],
    [{ redis_host: '127.0.0.1' }, 'redis_host'],
    [{ header: 'x' }, 'header'],
  ] as const) {
    const r = await put(conf);
    assert.equal(r.status, 400, `${JSON.stringify(conf)}: ${r.text}`);
    assert.match(r.body.error_msg, new RegExp(field));
  }
  assert.equal((await put({})).status, 201);
}));
