import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { eventually, startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { startLoopbackServer } from '../../helpers/loopback-server.js';
import { metricValue } from '../../helpers/observe.js';

// A real mirror on loopback: it records every copy; `/slow...` copies are answered 1.5 s late, `/slow-burst` ones 3 s.
interface Copy { method: string; url: string; headers: http.IncomingHttpHeaders; body: string; answeredAt?: number }
const copies: Copy[] = [];
let mirror: http.Server;
let mirrorUrl: string;
let gw: Gateway;
let up: TestUpstream;

async function startMirror(): Promise<void> {
  ({ server: mirror, url: mirrorUrl } = await startLoopbackServer((req, res) => {
    const copy: Copy = { method: req.method, url: req.url, headers: req.headers, body: req.body.toString() };
    copies.push(copy);
    const answer = (): void => { copy.answeredAt = Date.now(); res.end('mirror'); };
    if (copy.url.startsWith('/slow')) setTimeout(answer, copy.url.startsWith('/slow-burst') ? 3000 : 1500).unref();
    else answer();
  }));
}

before(async () => {
  await startMirror();
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'same', uri: '/pm/same', upstream, plugins: { 'proxy-mirror': { host: mirrorUrl } } },
      { id: 'replace', uri: '/pm/replace', upstream, plugins: { 'proxy-mirror': { host: mirrorUrl, path: '/copied' } } },
      { id: 'prefix', uri: '/pm/prefix', upstream, plugins: { 'proxy-mirror': { host: mirrorUrl, path: '/mirror', path_concat_mode: 'prefix' } } },
      { id: 'rare', uri: '/pm/rare', upstream, plugins: { 'proxy-mirror': { host: mirrorUrl, sample_ratio: 0.00001 } } },
      { id: 'slow', uri: '/pm/slow', upstream, plugins: { 'proxy-mirror': { host: mirrorUrl, path: '/slow' } } },
      { id: 'dead', uri: '/pm/dead', upstream, plugins: { 'proxy-mirror': { host: 'http://127.0.0.1:1' } } },
      { id: 'burst', uri: '/pm/burst', upstream, plugins: { 'proxy-mirror': { host: mirrorUrl, path: '/slow-burst' } } },
    ],
  })));
});

after(async () => {
  await stopWithUpstream(gw, up);
  mirror.closeAllConnections();
  await new Promise((resolve) => mirror.close(resolve));
});

function copiesTo(prefix: string): Copy[] {
  return copies.filter((c) => c.url.startsWith(prefix));
}

test('the copy carries method, headers, body and the original path and query', async () => {
  const r = await get(gw.url + '/pm/same?a=1', { method: 'POST', headers: { 'x-trace': 't1', 'content-type': 'text/plain' }, body: 'hello mirror' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-upstream'], 'a', 'the client gets the upstream\'s answer, not the mirror\'s');
  await eventually(() => copiesTo('/pm/same').length === 1);
  const copy = copiesTo('/pm/same')[0]!;
  assert.equal(copy.method, 'POST');
  assert.equal(copy.url, '/pm/same?a=1');
  assert.equal(copy.headers['x-trace'], 't1');
  assert.equal(copy.body, 'hello mirror');
  assert.equal(up.seen.at(-1)?.url, '/pm/same?a=1', 'the upstream still gets the request');
});

test('path replaces the path; path_concat_mode prefix puts it before the request URI', async () => {
  await get(gw.url + '/pm/replace?q=2');
  await get(gw.url + '/pm/prefix?q=3');
  await eventually(() => copiesTo('/copied').length === 1 && copiesTo('/mirror').length === 1);
  assert.equal(copiesTo('/copied')[0]!.url, '/copied');
  assert.equal(copiesTo('/mirror')[0]!.url, '/mirror/pm/prefix?q=3');
});

test('sample_ratio: at 0.00001 twenty requests are (almost surely) not mirrored', async () => {
  for (let i = 0; i < 20; i++) assert.equal((await get(gw.url + '/pm/rare')).status, 200);
  await get(gw.url + '/pm/same?after-rare');
  await eventually(() => copiesTo('/pm/same?after-rare').length === 1); // copies in order: rare ones would be in by now
  assert.equal(copiesTo('/pm/rare').length, 0);
});

test('a slow mirror does not delay the client: its answer comes before the mirror\'s', async () => {
  const started = Date.now();
  const r = await get(gw.url + '/pm/slow');
  const answeredAt = Date.now();
  assert.equal(r.status, 200);
  assert.ok(answeredAt - started < 1000, `client answered after ${answeredAt - started} ms`);
  await eventually(() => copiesTo('/slow')[0]?.answeredAt !== undefined, 60, 50);
  assert.ok(answeredAt < copiesTo('/slow')[0]!.answeredAt!, 'the client had its answer before the mirror answered');
});

test('a dead mirror costs the client nothing', async () => {
  const started = Date.now();
  for (let i = 0; i < 5; i++) assert.equal((await get(gw.url + '/pm/dead')).status, 200);
  assert.ok(Date.now() - started < 2000, `five requests took ${Date.now() - started} ms`);
});

const mirrored = (route: string, result: string): Promise<number> =>
  metricValue(gw, `gatehouse_proxy_mirror_requests_total{route="${route}",result="${result}"}`);

test('what became of each copy is counted by route and result', async () => {
  await eventually(async () => await mirrored('dead', 'failed') === 5);
  assert.equal(await mirrored('dead', 'sent'), 0);
  assert.equal(await mirrored('rare', 'sampled_out'), 20);
  await eventually(async () => await mirrored('same', 'sent') >= 2);

  const large = await get(gw.url + '/pm/same?large', { method: 'POST', body: Buffer.alloc(1024 * 1024 + 1, 'x') });
  assert.equal(large.status, 200);
  assert.equal(await mirrored('same', 'too_large'), 1);
  assert.equal(copiesTo('/pm/same?large').length, 0);
});

test('past 64 copies in flight (a slow mirror) further copies are dropped and counted; the clients are not delayed', async () => {
  const N = 80;
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: N }, (_, i) => get(`${gw.url}/pm/burst?i=${i}`)));
  assert.ok(answers.every((r) => r.status === 200));
  assert.ok(Date.now() - started < 3000, `the burst took ${Date.now() - started} ms: it waited for the mirror`);
  const dropped = await mirrored('burst', 'dropped');
  assert.ok(dropped >= N - 64, `${dropped} dropped`);
  await eventually(async () => await mirrored('burst', 'sent') === N - dropped, 100, 50);
  assert.equal(copiesTo('/slow-burst').length, N - dropped);
});

test('bad config is refused through the Admin API with a 400 naming the field', () => withPluginRoutes('proxy-mirror', async (put) => {
  for (const [conf, field] of [
    [{ host: 'ftp://x' }, 'host'],
    [{ host: 'http://x/path' }, 'host'],
    [{ host: 'http://x', path: 'no-slash' }, 'path'],
    [{ host: 'http://x', path_concat_mode: 'append' }, 'path_concat_mode'],
    [{ host: 'http://x', sample_ratio: 0 }, 'sample_ratio'],
    [{ host: 'http://x', sample_ratio: 2 }, 'sample_ratio'],
  ] as const) {
    const r = await put(conf);
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(`property "${field}" validation failed`));
  }
  assert.equal((await put({})).status, 400);
  assert.equal((await put({ host: 'http://127.0.0.1:9', path: '/m', path_concat_mode: 'prefix', sample_ratio: 0.5 })).status, 201);
}));
