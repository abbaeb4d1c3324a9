import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { adminClient, routeTo, type AdminCall } from '../admin/client.js';
import { freshRequest, startCacheUpstream, type CacheUpstream } from '../../helpers/cache-upstream.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

// proxy-cache's memory strategy through a real two-worker gateway: every request goes on
// a connection of its own, so the primary spreads them over both workers, and the
// X-Worker header (the serving worker's pid) shows which one answered.

let gw: Gateway;
let up: CacheUpstream;
let call: AdminCall;

const MEM = { cache_strategy: 'memory', cache_zone: 'mem' };

async function route(id: string, conf: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, {
    ...routeTo(`/${id}/*`, up.port),
    plugins: { 'proxy-cache': conf, 'response-rewrite': { headers: { set: { 'X-Worker': '$pid' } } }, ...extra },
  });
  assert.equal(r.status, 201, r.text);
  // any answer but 404: the route is in place (one with key-auth answers 401)
  await eventually(async () => (await freshRequest(`${gw.url}/${id}/probe`)).status !== 404);
}

const req = (path: string, opts: { method?: string; headers?: Record<string, string> } = {}) => freshRequest(gw.url + path, opts);

before(async () => {
  up = await startCacheUpstream();
  gw = await startGateway({
    store: 'sqlite', workers: 2,
    extra: { proxy_cache: { cache_ttl: '10s', zones: [{ name: 'mem', memory_size: '1m' }, { name: 'disk', disk_path: 'dc', disk_size: '1m' }] } },
  });
  call = adminClient(gw);
  await route('m', { ...MEM, cache_bypass: ['$arg_nocache'] }, {
    'file-logger': { path: 'pc.log', log_format: { uri: '$request_uri', cache: '$upstream_cache_status', key: '$upstream_cache_key' } },
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

test('a MISS is stored; the next request is a HIT with Age, the same body and Content-Length, from either worker', async () => {
  const miss = await req('/m/a?size=20000');
  assert.equal(miss.status, 200);
  assert.equal(miss.headers['apisix-cache-status'], 'MISS');
  assert.equal(miss.headers['content-length'], '20000');
  const workers = new Set<string>();
  await eventually(async () => {
    const r = await req('/m/a?size=20000');
    assert.equal(r.headers['apisix-cache-status'], 'HIT');
    assert.equal(r.body.length, 20000);
    assert.equal(r.headers['content-length'], '20000');
    assert.match(String(r.headers.age), /^\d+$/);
    workers.add(String(r.headers['x-worker']));
    return workers.size === 2;
  }, 40, 10);
  assert.equal(up.hits('/m/a'), 1);
});

test('PURGE answers 200 when it removed the entry, 404 otherwise, and every worker misses at once', async () => {
  await req('/m/p');
  assert.equal((await req('/m/p')).headers['apisix-cache-status'], 'HIT');
  const purged = await req('/m/p', { method: 'PURGE' });
  assert.equal(purged.status, 200);
  assert.equal(purged.body, '');
  const purgedBy = purged.headers['x-worker'];
  // the next two connections go to both workers: neither holds the entry any more
  const seen = new Map<string, string>();
  for (let i = 0; i < 2; i++) {
    const r = await req('/m/p');
    seen.set(String(r.headers['x-worker']), String(r.headers['apisix-cache-status']));
    if (r.headers['apisix-cache-status'] === 'MISS') await req('/m/p', { method: 'PURGE' });
  }
  assert.ok([...seen.values()].every((s) => s === 'MISS'), JSON.stringify([...seen]));
  assert.ok(purgedBy !== undefined);
  assert.equal((await req('/m/p', { method: 'PURGE' })).status, 404);
});

test('concurrent misses for one key make one upstream request, across workers; the others are served what it stored', async () => {
  const all = await Promise.all(Array.from({ length: 8 }, () => req('/m/slow?delay=300')));
  assert.ok(all.every((r) => r.status === 200 && r.body === all[0]!.body), JSON.stringify(all.map((r) => r.body)));
  assert.equal(up.hits('/m/slow'), 1);
  assert.equal(all.filter((r) => r.headers['apisix-cache-status'] === 'MISS').length, 1);
  assert.equal(new Set(all.map((r) => r.headers['x-worker'])).size, 2);
});

test('a miss streams to the client while it is stored', async () => {
  const r = await req('/m/trickle?size=4000&trickle=600');
  assert.equal(r.headers['apisix-cache-status'], 'MISS');
  assert.ok(r.firstByteMs < 400 && r.endMs >= 550, `first byte ${r.firstByteMs} ms, end ${r.endMs} ms`);
  const again = await req('/m/trickle?size=4000&trickle=600');
  assert.equal(again.headers['apisix-cache-status'], 'HIT');
  assert.equal(again.body.length, 4000);
});

test('cache_bypass and methods outside cache_method are not cached', async () => {
  assert.equal((await req('/m/b?nocache=1')).headers['apisix-cache-status'], 'BYPASS');
  assert.equal((await req('/m/b?nocache=1')).headers['apisix-cache-status'], 'BYPASS');
  assert.equal((await req('/m/post', { method: 'POST' })).headers['apisix-cache-status'], 'MISS');
  assert.equal((await req('/m/post', { method: 'POST' })).headers['apisix-cache-status'], 'MISS');
  assert.equal(up.hits('/m/post'), 2);
});

test('upstream Cache-Control private/no-store/no-cache, Set-Cookie and Vary: * are never stored', async () => {
  for (const [path, h] of [['/m/priv', 'Cache-Control:private'], ['/m/nostore', 'Cache-Control:no-store'],
    ['/m/nocache', 'Cache-Control:no-cache'], ['/m/cookie', 'Set-Cookie:a=1'], ['/m/star', 'Vary:*']]) {
    await req(`${path}?h=${encodeURIComponent(h!)}`);
    const r = await req(`${path}?h=${encodeURIComponent(h!)}`);
    assert.equal(r.headers['apisix-cache-status'], 'MISS', path);
    assert.equal(up.hits(path!), 2, path);
  }
});

test('Vary keeps one variant per value of the listed request headers', async () => {
  const vary = '/m/vary?h=Vary:Accept-Language';
  const en = await req(vary, { headers: { 'accept-language': 'en' } });
  await eventually(async () => (await req(vary, { headers: { 'accept-language': 'en' } })).headers['apisix-cache-status'] === 'HIT', 20, 20);
  const fr = await req(vary, { headers: { 'accept-language': 'fr' } });
  assert.equal(fr.headers['apisix-cache-status'], 'MISS');
  assert.match(fr.body, /lang=fr/);
  const en2 = await req(vary, { headers: { 'accept-language': 'en' } });
  assert.equal(en2.headers['apisix-cache-status'], 'HIT');
  assert.equal(en2.body, en.body);
  await eventually(async () => (await req(vary, { headers: { 'accept-language': 'fr' } })).body === fr.body, 20, 20);
});

test('cache_ttl: an entry older than it is EXPIRED and fetched again; cache_set_cookie stores Set-Cookie', async () => {
  await route('t', { ...MEM, cache_ttl: 1, cache_set_cookie: true });
  const first = await req('/t/x?h=Set-Cookie:a%3D1');
  assert.equal(first.headers['apisix-cache-status'], 'MISS');
  const hit = await req('/t/x?h=Set-Cookie:a%3D1');
  assert.equal(hit.headers['apisix-cache-status'], 'HIT');
  assert.deepEqual(hit.headers['set-cookie'], ['a=1']);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await req('/t/x?h=Set-Cookie:a%3D1')).headers['apisix-cache-status'], 'EXPIRED');
});

test('cache_control: the request may ask for fresher (STALE), no store (BYPASS) or only-if-cached (504)', async () => {
  await route('cc', { ...MEM, cache_control: true });
  assert.equal((await req('/cc/none', { headers: { 'cache-control': 'only-if-cached' } })).status, 504);
  await req('/cc/x?h=Cache-Control:max-age%3D60');
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await req('/cc/x?h=Cache-Control:max-age%3D60')).headers['apisix-cache-status'], 'HIT');
  assert.equal((await req('/cc/x?h=Cache-Control:max-age%3D60', { headers: { 'cache-control': 'max-age=0' } })).headers['apisix-cache-status'], 'STALE');
  assert.equal((await req('/cc/x?h=Cache-Control:max-age%3D60', { headers: { 'cache-control': 'no-cache' } })).headers['apisix-cache-status'], 'BYPASS');
  // without freshness of its own a response is not stored under cache_control
  await req('/cc/plain');
  assert.equal((await req('/cc/plain')).headers['apisix-cache-status'], 'MISS');
});

test('hide_cache_headers drops Cache-Control and Expires; a body over max_resp_body_size passes through unstored', async () => {
  await route('h', { ...MEM, hide_cache_headers: true, max_resp_body_size: 1000 });
  const r = await req('/h/x?h=Cache-Control:public&h=Expires:Thu,%2001%20Jan%202099%2000:00:00%20GMT');
  assert.equal(r.headers['cache-control'], undefined);
  assert.equal(r.headers.expires, undefined);
  const hit = await req('/h/x?h=Cache-Control:public&h=Expires:Thu,%2001%20Jan%202099%2000:00:00%20GMT');
  assert.equal(hit.headers['apisix-cache-status'], 'HIT');
  assert.equal(hit.headers['cache-control'], undefined);
  for (let i = 0; i < 2; i++) {
    const big = await req('/h/big?size=5000');
    assert.equal(big.headers['apisix-cache-status'], 'MISS');
    assert.equal(big.body.length, 5000);
  }
});

test('the access log gets $upstream_cache_status and $upstream_cache_key; the metric counts by route and status', async () => {
  await req('/m/logged?x=1');
  await eventually(async () => (await req('/m/logged?x=1')).headers['apisix-cache-status'] === 'HIT', 20, 20);
  const log = join(gw.dir, 'data', 'logs', 'pc.log');
  const e = await logEntry(log, 'uri', '/m/logged?x=1');
  assert.equal(e.key, `127.0.0.1/m/logged?x=1`);
  assert.ok(e.cache === 'MISS' || e.cache === 'HIT');
  await eventually(async () => await metricValue(gw, 'gatehouse_proxy_cache_requests_total{route="m",status="HIT"}') > 0);
  assert.ok(await metricValue(gw, 'gatehouse_proxy_cache_requests_total{route="m",status="MISS"}') > 0);
});

test('bad config is refused with a 400 naming the field', async () => {
  for (const [conf, message] of [
    [{ cache_zone: 'nope' }, 'cache_zone nope not found'],
    [{ cache_strategy: 'memory', cache_zone: 'disk' }, 'invalid or empty cache_zone for cache_strategy: memory'],
    [{ cache_strategy: 'disk', cache_zone: 'mem' }, 'invalid or empty cache_zone for cache_strategy: disk'],
    [{ cache_zone: 'disk', cache_ttl: 60 }, 'cache_ttl: applies to the memory strategy only'],
    [{ ...MEM, cache_key: ['$request_method'] }, 'cache_key variable $request_method unsupported'],
    [{ ...MEM, cache_key: ['$hots'] }, "cache_key: unknown variable '$hots'"],
    [{ ...MEM, cache_key: ['$a-b'] }, 'cache_key'],
    [{ ...MEM, cache_http_status: [100] }, 'cache_http_status'],
    [{ ...MEM, cache_method: ['PUT'] }, 'cache_method'],
    [{ ...MEM, cache_ttl: 0 }, 'cache_ttl'],
    [{ ...MEM, cache_zones: 'x' }, 'cache_zones'],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { 'proxy-cache': conf } });
    assert.equal(r.status, 400, r.text);
    assert.ok(String(r.body.error_msg).includes(message), `${r.body.error_msg} should include ${message}`);
  }
});

test('a HIT does not replay hop-by-hop or rate-limit headers; HEAD is answered from what a GET stored', async () => {
  const path = '/m/hop?h=X-RateLimit-Remaining:5&h=X-Kept:yes&h=Link:%3C%2Fa%3E&h=Link:%3C%2Fb%3E';
  const miss = await req(path);
  assert.equal(miss.headers['x-ratelimit-remaining'], '5');
  await eventually(async () => (await req(path)).headers['apisix-cache-status'] === 'HIT', 20, 20);
  const hit = await req(path);
  assert.equal(hit.headers['x-ratelimit-remaining'], undefined);
  assert.equal(hit.headers['x-kept'], 'yes');
  assert.equal(hit.headers.link, '</a>, </b>');
  const head = await req(path, { method: 'HEAD' });
  assert.equal(head.headers['apisix-cache-status'], 'HIT');
  assert.equal(head.body, '');
  assert.equal(up.hits('/m/hop'), 1);
  // a HEAD miss is not stored (it has no body): the GET after it misses too
  assert.equal((await req('/m/head-first', { method: 'HEAD' })).headers['apisix-cache-status'], 'MISS');
  assert.equal((await req('/m/head-first')).headers['apisix-cache-status'], 'MISS');
});

test('consumer_isolation: each consumer gets its own entries', async () => {
  for (const [name, key] of [['alice', 'ka'], ['bob', 'kb']]) {
    const r = await call('PUT', `/consumers/${name}`, { username: name, plugins: { 'key-auth': { key } } });
    assert.ok(r.status === 200 || r.status === 201, r.text);
  }
  await route('iso', MEM, { 'key-auth': {} });
  const as = (key: string) => req('/iso/x', { headers: { apikey: key } });
  await eventually(async () => (await as('ka')).status === 200);
  await eventually(async () => (await as('ka')).headers['apisix-cache-status'] === 'HIT', 20, 20);
  const bob = await as('kb');
  assert.equal(bob.headers['apisix-cache-status'], 'MISS');
  assert.equal((await as('nope')).status, 401);
});
