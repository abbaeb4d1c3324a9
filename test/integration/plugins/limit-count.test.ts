import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, request } from 'undici';
import { startGateway, eventually, startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get, type SimpleResponse } from '../../helpers/http.js';

// limit-count with policy `local` on a gateway with two workers: the counters live in
// the primary, so the limit holds across workers (each request on a new connection, so
// the primary's round-robin spreads them; the worker's pid is echoed to prove it).

/** Every response says which worker answered it. */
const PID = { 'serverless-post-function': { phase: 'header_filter', functions: ["(conf, ctx) => { ctx.response.setHeader('x-worker-pid', String(ctx.var.pid)) }"] } };
const GLOBAL_LIMIT = { count: 3, time_window: 60, _meta: { filter: [['uri', '~~', '^/g/']] } };

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'five', uri: '/five', upstream, plugins: { ...PID, 'limit-count': { count: 5, time_window: 60 } } },
      { id: 'lease', uri: '/lease', upstream, plugins: { ...PID, 'limit-count': { count: 400, time_window: 60 } } },
      { id: 'race', uri: '/race', upstream, plugins: { ...PID, 'limit-count': { count: 7, time_window: 60, rejected_code: 429, rejected_msg: 'quota' } } },
      // the very same config as the global rule's: only the owner tells the counters apart
      { id: 'g-limited', uri: '/g/limited', upstream, plugins: { 'limit-count': GLOBAL_LIMIT } },
      { id: 'g-open', uri: '/g/open', upstream },
      { id: 'plain', uri: '/plain', upstream },
      { id: 'group-a', uri: '/group-a', upstream, plugins: { 'limit-count': { count: 2, time_window: 60, group: 'shared' } } },
      { id: 'group-b', uri: '/group-b', upstream, plugins: { 'limit-count': { count: 2, time_window: 60, group: 'shared' } } },
      // APISIX 3.16: the quota from a variable, resolved per request
      { id: 'by-var', uri: '/by-var', upstream, plugins: { ...PID, 'limit-count': { count: '$http_x_quota', time_window: '60' } } },
      // the seed's example (DESIGN.md §4): _meta.priority 3010 runs limit-count before ip-restriction (210)
      { id: 'seed', uri: '/seed', upstream, plugins: {
        'ip-restriction': { whitelist: ['127.0.0.1'] },
        'limit-count': { count: 2, time_window: 60, _meta: { priority: 3010 } },
      } },
      { id: 'seed-black', uri: '/seed-black', upstream, plugins: {
        'ip-restriction': { blacklist: ['127.0.0.1'] },
        'limit-count': { count: 2, time_window: 60, _meta: { priority: 3010 } },
      } },
      { id: 'default-black', uri: '/default-black', upstream, plugins: {
        'ip-restriction': { blacklist: ['127.0.0.1'] },
        'limit-count': { count: 2, time_window: 60 },
      } },
    ],
    global_rules: [{ id: 'g', plugins: { 'limit-count': GLOBAL_LIMIT } }],
  }), { workers: 2 }));
});

after(() => stopWithUpstream(gw, up));

/** A request on a connection of its own (so consecutive requests go to alternating workers). */
const fresh = (path: string): Promise<SimpleResponse> => get(gw.url + path, { headers: { connection: 'close' } });
const pid = (r: SimpleResponse): string => String(r.headers['x-worker-pid']);

test('count 5 in a 60 s window across two workers: exactly 5 × 200 with the quota headers, then 503s', async () => {
  const responses: SimpleResponse[] = [];
  for (let i = 0; i < 10; i++) responses.push(await fresh('/five'));
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200, 200, 503, 503, 503, 503, 503]);
  assert.equal(new Set(responses.map(pid)).size, 2, 'both workers answered');
  responses.forEach((r, i) => {
    assert.equal(r.headers['x-ratelimit-limit'], '5');
    assert.equal(r.headers['x-ratelimit-remaining'], String(Math.max(0, 4 - i)));
    const reset = Number(r.headers['x-ratelimit-reset']);
    assert.ok(reset > 0 && reset <= 60, `reset ${reset}`);
  });
  assert.match(responses[5]!.body, /<title>503 Service Temporarily Unavailable<\/title>/);
  assert.match(gw.output(), /limit-count exits with http status code 503/);
});

test('concurrent requests racing on both workers: never more than count pass', async () => {
  const responses = await Promise.all(Array.from({ length: 24 }, () => fresh('/race')));
  const statuses = responses.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 7);
  assert.equal(statuses.filter((s) => s === 429).length, 17);
  assert.equal(new Set(responses.map(pid)).size, 2, 'both workers answered');
  const rejected = responses.find((r) => r.status === 429)!;
  assert.deepEqual(rejected.json(), { error_msg: 'quota' });
  assert.equal(rejected.headers['x-ratelimit-remaining'], '0');
});

test('leases: a busy worker admits from a block; when the other runs out, the unused block is reclaimed, not stranded', async () => {
  // a keep-alive connection stays on one worker
  const clients: Client[] = [];
  const on = async (c: Client): Promise<{ status: number; pid: string; remaining: number }> => {
    const res = await c.request({ path: '/lease', method: 'GET' });
    await res.body.text();
    return { status: res.statusCode, pid: String(res.headers['x-worker-pid']), remaining: Number(res.headers['x-ratelimit-remaining']) };
  };
  try {
    const a = new Client(gw.url);
    clients.push(a);
    // worker A warms up: its later requests are admitted from a lease
    let first = await on(a);
    for (let i = 1; i < 60; i++) first = await on(a);
    assert.equal(first.status, 200);
    // a connection that lands on the other worker
    let b: Client | undefined;
    for (let i = 0; i < 20 && b === undefined; i++) {
      const c = new Client(gw.url);
      clients.push(c);
      const r = await on(c);
      assert.equal(r.status, 200);
      if (r.pid !== first.pid) b = c;
    }
    assert.ok(b !== undefined, 'reached the second worker');
    const used = 60 + (clients.length - 1); // every request so far was admitted
    // worker B spends everything left, including what A holds and does not use
    let admitted = used;
    for (;;) {
      const r = await on(b);
      if (r.status !== 200) {
        assert.equal(r.status, 503);
        break;
      }
      admitted++;
      // never more than is left
      assert.ok(r.remaining <= 400 - admitted, `remaining ${r.remaining} after ${admitted} admitted`);
    }
    assert.equal(admitted, 400);
    // A gave its block back: it has nothing either
    assert.equal((await on(a)).status, 503);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

test('the counters live in the primary: a restarted worker does not reset them', async () => {
  const before = await fresh('/five');
  assert.equal(before.status, 503);
  const victim = Number(pid(before));
  process.kill(victim, 'SIGKILL');
  // bounded: until a new worker answers in place of the killed one
  const pids = new Set<string>();
  await eventually(async () => {
    // bounded: a connection the primary hands to a worker as it dies is never answered
    const r = await request(`${gw.url}/five`, { headers: { connection: 'close' }, headersTimeout: 2000, bodyTimeout: 2000 })
      .then(async (res) => { await res.body.text(); return res; }, () => undefined);
    if (r !== undefined) {
      assert.equal(r.statusCode, 503, 'still exhausted after the restart');
      pids.add(String(r.headers['x-worker-pid']));
    }
    return [...pids].some((p) => p !== String(victim)) && pids.size >= 2;
  }, 200, 50);
});

test('a global rule and a route with the same limit-count count separately', async () => {
  // each request counts once in the global counter and once in the route's
  const statuses: number[] = [];
  const remaining: unknown[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await fresh('/g/limited');
    statuses.push(r.status);
    remaining.push(r.headers['x-ratelimit-remaining']);
  }
  // one shared counter would have let only 1 through (2 hits per request)
  assert.deepEqual(statuses, [200, 200, 200, 503]);
  // the route's instance runs access last, so its numbers are the ones sent
  assert.deepEqual(remaining, ['2', '1', '0', '0']);
  // the global counter is spent for every route it covers
  assert.equal((await fresh('/g/open')).status, 503);
  // and covers nothing else
  assert.equal((await fresh('/plain')).status, 200);
});

test('group: one counter shared by the routes of the group', async () => {
  assert.equal((await fresh('/group-a')).status, 200);
  assert.equal((await fresh('/group-b')).status, 200);
  assert.equal((await fresh('/group-a')).status, 503);
  assert.equal((await fresh('/group-b')).status, 503);
});

test('count from a variable across two workers: each resolved quota holds; unresolvable is a 500', async () => {
  const as = (quota?: string): Promise<SimpleResponse> =>
    get(`${gw.url}/by-var`, { headers: { connection: 'close', ...(quota !== undefined ? { 'x-quota': quota } : {}) } });
  const two: SimpleResponse[] = [];
  for (let i = 0; i < 4; i++) two.push(await as('2'));
  assert.deepEqual(two.map((r) => r.status), [200, 200, 503, 503]);
  assert.equal(new Set(two.map(pid)).size, 2, 'both workers answered');
  assert.deepEqual(two.map((r) => r.headers['x-ratelimit-limit']), ['2', '2', '2', '2']);
  assert.equal((await as('3')).status, 200);
  assert.equal((await as()).status, 500);
  assert.equal((await as('zero')).status, 500);
});

test('seed example: _meta.priority 3010 runs limit-count before ip-restriction', async () => {
  // as written in the seed: whitelisted, so limit-count alone decides
  assert.deepEqual([(await fresh('/seed')).status, (await fresh('/seed')).status, (await fresh('/seed')).status], [200, 200, 503]);

  // made observable: ip-restriction blacklists us; while quota remains its 403 answers,
  // once the quota is spent limit-count answers first — it ran before ip-restriction
  const black = [];
  for (let i = 0; i < 4; i++) black.push(await fresh('/seed-black'));
  assert.deepEqual(black.map((r) => r.status), [403, 403, 503, 503]);
  assert.deepEqual(black[0]!.json(), { message: 'Your IP address is not allowed' });
  assert.equal(black[0]!.headers['x-ratelimit-remaining'], '1', 'limit-count counted before the 403');

  // without _meta.priority ip-restriction (210) runs first and limit-count (202) never counts
  const plain = [];
  for (let i = 0; i < 4; i++) plain.push(await fresh('/default-black'));
  assert.deepEqual(plain.map((r) => r.status), [403, 403, 403, 403]);
  assert.equal(plain[0]!.headers['x-ratelimit-remaining'], undefined);
});

test('header names from plugin metadata', async () => {
  const up2 = await startUpstream('b');
  const gw2 = await startGateway({
    config: {
      routes: [{ id: 'm', uri: '/m', upstream: { nodes: { [`127.0.0.1:${up2.port}`]: 1 } }, plugins: { 'limit-count': { count: 1, time_window: 30 } } }],
      plugin_metadata: [{ id: 'limit-count', limit_header: 'X-Quota', remaining_header: 'X-Quota-Left', reset_header: 'X-Quota-Reset' }],
    },
  });
  try {
    const ok = await get(gw2.url + '/m');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-quota'], '1');
    assert.equal(ok.headers['x-quota-left'], '0');
    assert.equal(ok.headers['x-quota-reset'], '30');
    assert.equal(ok.headers['x-ratelimit-limit'], undefined);
    const no = await get(gw2.url + '/m');
    assert.equal(no.status, 503);
    assert.equal(no.headers['x-quota-left'], '0');
  } finally {
    await gw2.stop();
    await up2.close();
  }
});
