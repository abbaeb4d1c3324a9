import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get, rawRequest } from '../../helpers/http.js';

let gw: Gateway;
let a: TestUpstream;
let b: TestUpstream;

before(async () => {
  a = await startUpstream('a');
  b = await startUpstream('b');
  const node = (u: TestUpstream) => ({ [`127.0.0.1:${u.port}`]: 1 });
  gw = await startGateway({
    config: {
      upstreams: [{ id: 'ua', nodes: node(a) }, { id: 'ub', nodes: node(b), pass_host: 'rewrite', upstream_host: 'rewritten.example' }],
      services: [{ id: 's1', upstream_id: 'ub', hosts: ['svc.example'] }],
      routes: [
        { id: 'exact', uri: '/blog/foo/bar', upstream_id: 'ua', name: 'exact' },
        { id: 'pfx', uri: '/blog/foo/*', upstream_id: 'ub' },
        { id: 'pfx-a', uri: '/blog/foo/a/*', upstream_id: 'ua' },
        { id: 'param', uri: '/users/:id', upstream_id: 'ua' },
        { id: 'methods', uri: '/m', methods: ['POST'], upstream_id: 'ua' },
        { id: 'host', uri: '/h', hosts: ['*.example.com'], upstream_id: 'ub' },
        { id: 'host-exact', uri: '/h', hosts: ['api.example.com'], upstream_id: 'ua' },
        { id: 'nohost', uri: '/h', upstream_id: 'ua', priority: 100 },
        { id: 'vars', uri: '/v', vars: [['arg_version', '==', 'v2']], upstream_id: 'ub' },
        { id: 'vars-default', uri: '/v', upstream_id: 'ua' },
        { id: 'prio-low', uri: '/p', upstream_id: 'ua', priority: 1 },
        { id: 'prio-high', uri: '/p', upstream_id: 'ub', priority: 2 },
        { id: 'remote', uri: '/r', remote_addrs: ['10.0.0.0/8'], upstream_id: 'ub' },
        { id: 'remote-ok', uri: '/r2', remote_addrs: ['127.0.0.0/8'], upstream_id: 'ua' },
        { id: 'svc', uri: '/svc', service_id: 's1' },
        { id: 'passnode', uri: '/pn', upstream: { nodes: node(a), pass_host: 'node' } },
        { id: 'dangling', uri: '/dangling', upstream_id: 'ua' },
      ],
    },
  });
});

after(async () => {
  await gw.stop();
  await a.close();
  await b.close();
});

const who = async (path: string, init?: Parameters<typeof get>[1]) => {
  const r = await get(gw.url + path, init);
  return r.status === 200 ? r.json().upstream : r.status;
};

test('an exact uri beats a prefix, and the longest prefix wins', async () => {
  assert.equal(await who('/blog/foo/bar'), 'a');
  assert.equal(await who('/blog/foo/a/b/c'), 'a');
  assert.equal(await who('/blog/foo/gloo'), 'b');
  assert.equal(await who('/blog/bar'), 404);
});

test('an unmatched request gets 404 with the APISIX error body and the Server header', async () => {
  const r = await get(gw.url + '/nothing-here');
  assert.equal(r.status, 404);
  assert.deepEqual(r.json(), { error_msg: '404 Route Not Found' });
  assert.match(String(r.headers.server), /^Gatehouse\/\d+\.\d+\.\d+$/);
  assert.equal(r.headers['content-type'], 'application/json');
});

test('with the default router (radixtree_host_uri) :name is literal, as in APISIX', async () => {
  assert.equal(await who('/users/42'), 404);
  assert.equal(await who('/users/:id'), 'a');
});

test('methods restrict a route', async () => {
  assert.equal(await who('/m', { method: 'POST', body: 'x' }), 'a');
  assert.equal(await who('/m'), 404);
});

test('a host-specific route beats a host-less one whatever its priority, exact host before wildcard', async () => {
  assert.equal(await who('/h', { headers: { host: 'api.example.com' } }), 'a');
  assert.equal(await who('/h', { headers: { host: 'web.example.com' } }), 'b');
  assert.equal(await who('/h', { headers: { host: 'other.org' } }), 'a');
});

test('vars conditions select a route', async () => {
  assert.equal(await who('/v?version=v2'), 'b');
  assert.equal(await who('/v?version=v1'), 'a');
});

test('a higher priority wins among routes with the same uri', async () => {
  assert.equal(await who('/p'), 'b');
});

test('remote_addrs restrict a route by client address', async () => {
  assert.equal(await who('/r'), 404);
  assert.equal(await who('/r2'), 'a');
});

test('a route inherits the upstream and hosts of its service, and pass_host rewrite sets Host', async () => {
  assert.equal(await who('/svc'), 404);
  const r = await get(gw.url + '/svc', { headers: { host: 'svc.example' } });
  assert.equal(r.json().upstream, 'b');
  assert.equal(r.json().headers.host, 'rewritten.example');
});

test('pass_host node sends the node address as Host; pass keeps the client Host', async () => {
  const r = await get(gw.url + '/pn');
  assert.equal(r.json().headers.host, `127.0.0.1:${a.port}`);
  const p = await get(gw.url + '/blog/foo/bar', { headers: { host: 'client.example' } });
  assert.equal(p.json().headers.host, 'client.example');
});

test('forwarding headers are set and hop-by-hop headers are dropped', async () => {
  const raw = await rawRequest(gw.httpPort, 'GET /blog/foo/bar?x=1 HTTP/1.1\r\nHost: client.example\r\n' +
    'X-Forwarded-For: 203.0.113.9\r\nKeep-Alive: timeout=5\r\nX-Custom: kept\r\nTE: trailers\r\n' +
    'Connection: close, x-custom-hop\r\nX-Custom-Hop: gone\r\n\r\n');
  const [head, body] = raw.split('\r\n\r\n');
  const sent = JSON.parse(body!);
  const h = sent.headers;
  assert.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.equal(h['x-forwarded-port'], String(gw.httpPort));
  assert.equal(h['x-forwarded-host'], 'client.example');
  assert.equal(h['x-custom'], 'kept');
  assert.equal(h['keep-alive'], undefined);
  assert.equal(h.te, undefined);
  assert.equal(h['x-custom-hop'], undefined);
  assert.equal(sent.url, '/blog/foo/bar?x=1');
  assert.match(head!, /\r\nserver: Gatehouse\//i);
  assert.match(head!, /\r\nx-upstream: a/i);
  assert.doesNotMatch(head!, /keep-alive: timeout/i);
});

test('the request target is forwarded as the client sent it', async () => {
  const r = await get(gw.url + '/blog/foo/a/x%20y?q=%2F');
  assert.equal(r.json().url, '/blog/foo/a/x%20y?q=%2F');
});
