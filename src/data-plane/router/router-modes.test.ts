import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteMatchInput, Router } from '../../contracts/router.js';
import { buildRouter, ROUTER_MODES, type RouterEntry, type RouterMode } from './router.js';

// The three `router.http` modes of APISIX: what each does with hosts and with `:name`.

type Extra = Partial<Omit<RouterEntry<string>, 'id' | 'route' | 'uris'>>;

function route(id: string, uri: string, extra: Extra = {}): RouterEntry<string> {
  return { id, route: id, uris: [uri], priority: 0, ...extra };
}

function hit(router: Router<string>, path: string, over: Partial<RouteMatchInput> = {}): string | undefined {
  return router.match({ method: 'GET', host: 'example.com', path, remoteAddr: '127.0.0.1', vars: () => undefined, ...over })?.route;
}

const build = (mode: RouterMode, entries: RouterEntry<string>[]): Router<string> => buildRouter(entries, { mode });

test('outside radixtree_uri_with_parameter, :name and *name are literal text', () => {
  for (const mode of ['radixtree_host_uri', 'radixtree_uri'] as const) {
    const r = build(mode, [route('user', '/user/:id'), route('files', '/files/*path'), route('pfx', '/p/:x/*')]);
    assert.equal(hit(r, '/user/42'), undefined, mode);
    assert.deepEqual(r.match({ method: 'GET', host: 'h', path: '/user/:id', remoteAddr: '', vars: () => undefined }), { route: 'user', params: undefined }, mode);
    assert.equal(hit(r, '/files/a.txt'), undefined, mode);
    assert.equal(hit(r, '/files/*path'), 'files', mode);
    // a trailing * is still a prefix; what comes before it is literal
    assert.equal(hit(r, '/p/:x/anything'), 'pfx', mode);
    assert.equal(hit(r, '/p/1/anything'), undefined, mode);
  }
});

test('radixtree_uri_with_parameter captures path parameters', () => {
  const r = build('radixtree_uri_with_parameter', [route('user', '/user/:id'), route('files', '/files/*path')]);
  assert.deepEqual(r.match({ method: 'GET', host: 'h', path: '/user/42', remoteAddr: '', vars: () => undefined }), { route: 'user', params: { id: '42' } });
  assert.equal(hit(r, '/files/a/b'), 'files');
});

test('radixtree_host_uri puts a matching host first; the uri modes let the uri decide', () => {
  const entries = [route('generic', '/api/v1'), route('hosted', '/api/*', { hosts: ['a.com'] })];
  assert.equal(hit(build('radixtree_host_uri', entries), '/api/v1', { host: 'a.com' }), 'hosted');
  assert.equal(hit(build('radixtree_uri', entries), '/api/v1', { host: 'a.com' }), 'generic');
  assert.equal(hit(build('radixtree_uri_with_parameter', entries), '/api/v1', { host: 'a.com' }), 'generic');
  // same path: host_uri takes the host route whatever the priority; the uri modes go by priority
  const same = [route('generic', '/x', { priority: 10 }), route('hosted', '/x', { hosts: ['a.com'] })];
  assert.equal(hit(build('radixtree_host_uri', same), '/x', { host: 'a.com' }), 'hosted');
  assert.equal(hit(build('radixtree_uri', same), '/x', { host: 'a.com' }), 'generic');
});

test('in the uri modes hosts are a condition checked after the uri matched', () => {
  for (const mode of ['radixtree_uri', 'radixtree_uri_with_parameter'] as const) {
    const r = build(mode, [
      route('exact', '/h', { hosts: ['a.com'] }),
      route('wild', '/h', { hosts: ['*.example.com'], priority: -1 }),
      route('port', '/h', { hosts: ['b.com:8080'], priority: -2 }),
      route('fallback', '/*'),
    ]);
    assert.equal(hit(r, '/h', { host: 'a.com' }), 'exact', mode);
    assert.equal(hit(r, '/h', { host: 'x.y.example.com' }), 'wild', mode);
    assert.equal(hit(r, '/h', { host: 'example.com' }), 'fallback', mode);
    assert.equal(hit(r, '/h', { host: 'b.com', vars: (n) => (n === 'http_host' ? 'B.com:8080' : undefined) }), 'port', mode);
    assert.equal(hit(r, '/h', { host: 'b.com', vars: (n) => (n === 'http_host' ? 'b.com:9090' : undefined) }), 'fallback', mode);
    assert.equal(hit(r, '/h', { host: 'c.com' }), 'fallback', mode);
    const any = build(mode, [route('any', '/h', { hosts: ['*'] })]);
    assert.equal(hit(any, '/h', { host: 'whatever.org' }), 'any', mode);
  }
});

test('an entry memo prepared for one mode is prepared again for another', () => {
  const entry = route('user', '/user/:id', { memo: {} });
  assert.equal(hit(buildRouter([entry]), '/user/1'), undefined);
  assert.equal(hit(buildRouter([entry], { mode: 'radixtree_uri_with_parameter' }), '/user/1'), 'user');
  assert.equal(hit(buildRouter([entry], { mode: 'radixtree_uri' }), '/user/1'), undefined);
});

test('ROUTER_MODES lists the three APISIX modes', () => {
  assert.deepEqual([...ROUTER_MODES], ['radixtree_host_uri', 'radixtree_uri', 'radixtree_uri_with_parameter']);
});
