import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteMatchInput, Router } from '../../contracts/router.js';
import { buildRouter, RouterBuildError, type RouterEntry, type RouterOptions } from './router.js';

const WITH_PARAMS: RouterOptions = { mode: 'radixtree_uri_with_parameter' };

type Extra = Partial<Omit<RouterEntry<string>, 'id' | 'route' | 'uris'>>;

function route(id: string, uris: string | string[], extra: Extra = {}): RouterEntry<string> {
  return { id, route: id, uris: Array.isArray(uris) ? uris : [uris], priority: 0, ...extra };
}

function req(path: string, over: Partial<RouteMatchInput> = {}): RouteMatchInput {
  return { method: 'GET', host: 'example.com', path, remoteAddr: '127.0.0.1', vars: () => undefined, ...over };
}

function hit(router: Router<string>, path: string, over: Partial<RouteMatchInput> = {}): string | undefined {
  return router.match(req(path, over))?.route;
}

test('the radixtree documentation example resolves as documented', () => {
  const r = buildRouter([
    route('foo-any', '/blog/foo/*'),
    route('foo-a', '/blog/foo/a/*'),
    route('foo-c', '/blog/foo/c/*'),
    route('foo-bar', '/blog/foo/bar'),
  ]);
  assert.equal(hit(r, '/blog/foo/bar'), 'foo-bar');
  assert.equal(hit(r, '/blog/foo/a/b/c'), 'foo-a');
  assert.equal(hit(r, '/blog/foo/gloo'), 'foo-any');
  assert.equal(hit(r, '/blog/bar'), undefined);
});

test('an exact uri matches only that exact path', () => {
  const r = buildRouter([route('a', '/a/b')]);
  assert.equal(hit(r, '/a/b'), 'a');
  assert.equal(hit(r, '/a/b/'), undefined);
  assert.equal(hit(r, '/a/bc'), undefined);
  assert.equal(hit(r, '/a'), undefined);
});

test('a prefix ending in /* matches the directory and deeper, not the bare name', () => {
  const r = buildRouter([route('foo', '/blog/foo/*')]);
  assert.equal(hit(r, '/blog/foo/'), 'foo');
  assert.equal(hit(r, '/blog/foo/x/y'), 'foo');
  assert.equal(hit(r, '/blog/foo'), undefined);
  assert.equal(hit(r, '/blog/foox'), undefined);
});

test('a prefix ending in a bare * also matches the name itself and longer names', () => {
  const r = buildRouter([route('bar', '/blog/bar*')]);
  assert.equal(hit(r, '/blog/bar'), 'bar');
  assert.equal(hit(r, '/blog/barx'), 'bar');
  assert.equal(hit(r, '/blog/bar/x'), 'bar');
  assert.equal(hit(r, '/blog/ba'), undefined);
});

test('/* matches every path and loses to any longer prefix', () => {
  const r = buildRouter([route('root', '/*'), route('api', '/api/*')]);
  assert.equal(hit(r, '/'), 'root');
  assert.equal(hit(r, '/anything/at/all'), 'root');
  assert.equal(hit(r, '/api/x'), 'api');
});

test('prefixes are tried from the longest to the shortest when conditions fail', () => {
  const r = buildRouter([
    route('short', '/a/*'),
    route('mid', '/a/b/*', { methods: ['POST'] }),
    route('long', '/a/b/c/*', { methods: ['PUT'] }),
  ]);
  assert.equal(hit(r, '/a/b/c/d', { method: 'PUT' }), 'long');
  assert.equal(hit(r, '/a/b/c/d', { method: 'POST' }), 'mid');
  assert.equal(hit(r, '/a/b/c/d', { method: 'GET' }), 'short');
});

test('an exact path beats a prefix regardless of priority, and falls back to it when its conditions fail', () => {
  const r = buildRouter([
    route('prefix', '/a/*', { priority: 100 }),
    route('exact', '/a/b', { methods: ['POST'] }),
  ]);
  assert.equal(hit(r, '/a/b', { method: 'POST' }), 'exact');
  assert.equal(hit(r, '/a/b', { method: 'GET' }), 'prefix');
});

test('path parameters capture one non-empty segment', () => {
  const r = buildRouter([route('user', '/user/:id')], WITH_PARAMS);
  assert.deepEqual(r.match(req('/user/42')), { route: 'user', params: { id: '42' } });
  assert.equal(hit(r, '/user/'), undefined);
  assert.equal(hit(r, '/user'), undefined);
  assert.equal(hit(r, '/user/42/x'), undefined);
});

test('several parameters and static segments between them are captured in place', () => {
  const r = buildRouter([route('c', '/org/:org/repo/:repo/issues')], WITH_PARAMS);
  assert.deepEqual(r.match(req('/org/acme/repo/gate/issues'))?.params, { org: 'acme', repo: 'gate' });
  assert.equal(hit(r, '/org/acme/repo/gate'), undefined);
  assert.equal(hit(r, '/org/acme/repos/gate/issues'), undefined);
});

test('a trailing *name captures the rest of the path, slashes included, possibly empty', () => {
  const r = buildRouter([route('act', '/user/:id/*action'), route('files', '/files/*path')], WITH_PARAMS);
  assert.deepEqual(r.match(req('/user/7/edit/profile'))?.params, { id: '7', action: 'edit/profile' });
  assert.deepEqual(r.match(req('/user/7/'))?.params, { id: '7', action: '' });
  assert.equal(hit(r, '/user/7'), undefined);
  assert.deepEqual(r.match(req('/files/a/b.txt'))?.params, { path: 'a/b.txt' });
});

test('a trailing anonymous * in a parameter route matches the rest without capturing it', () => {
  const r = buildRouter([route('x', '/user/:id/*')], WITH_PARAMS);
  assert.deepEqual(r.match(req('/user/7/a/b')), { route: 'x', params: { id: '7' } });
});

test('routes without parameters report params as undefined', () => {
  const r = buildRouter([route('e', '/e'), route('p', '/p/*')]);
  assert.equal(r.match(req('/e'))?.params, undefined);
  assert.equal(r.match(req('/p/x'))?.params, undefined);
});

test('an exact path beats a parameter route, and a parameter route beats a prefix', () => {
  const r = buildRouter([
    route('prefix', '/user/*', { priority: 10 }),
    route('param', '/user/:id', { priority: 5 }),
    route('me', '/user/me'),
  ], WITH_PARAMS);
  assert.equal(hit(r, '/user/me'), 'me');
  assert.equal(hit(r, '/user/42'), 'param');
  assert.equal(hit(r, '/user/42/x'), 'prefix');
});

test('a parameter route whose static branch dead-ends falls back to the parameter branch', () => {
  const r = buildRouter([route('static-first', '/a/b/:c/e'), route('param', '/a/:x/d')], WITH_PARAMS);
  assert.deepEqual(r.match(req('/a/b/d')), { route: 'param', params: { x: 'b' } });
  assert.deepEqual(r.match(req('/a/b/z/e')), { route: 'static-first', params: { c: 'z' } });
});

test('among parameter routes matching one path, priority wins, then the longer uri, then insertion order', () => {
  const longer = buildRouter([route('short', '/u/:id/x'), route('long', '/u/:id/*rest')], WITH_PARAMS);
  assert.equal(hit(longer, '/u/1/x'), 'long');
  const prio = buildRouter([route('short', '/u/:id/x', { priority: 1 }), route('long', '/u/:id/*rest')], WITH_PARAMS);
  assert.equal(hit(prio, '/u/1/x'), 'short');
  const order = buildRouter([route('first', '/u/:a/x'), route('second', '/u/:b/x')], WITH_PARAMS);
  assert.deepEqual(order.match(req('/u/1/x')), { route: 'first', params: { a: '1' } });
});

test('candidates for the same path are tried by priority, then insertion order', () => {
  const r = buildRouter([
    route('low', '/same', { priority: -1 }),
    route('first', '/same'),
    route('second', '/same'),
    route('high', '/same', { priority: 10, methods: ['POST'] }),
  ]);
  assert.equal(hit(r, '/same', { method: 'POST' }), 'high');
  assert.equal(hit(r, '/same'), 'first');
  const onlyLow = buildRouter([route('low', '/same', { priority: -1 }), route('zero', '/same', { methods: ['PUT'] })]);
  assert.equal(hit(onlyLow, '/same'), 'low');
});

test('a route with several uris matches on any of them', () => {
  const r = buildRouter([route('multi', ['/a', '/b/*', '/c/:id'])], WITH_PARAMS);
  assert.equal(hit(r, '/a'), 'multi');
  assert.equal(hit(r, '/b/x'), 'multi');
  assert.deepEqual(r.match(req('/c/9'))?.params, { id: '9' });
});

test('a route with hosts matches only those hosts; a host-less route matches any host', () => {
  const r = buildRouter([route('only', '/h', { hosts: ['a.com'] }), route('any', '/any')]);
  assert.equal(hit(r, '/h', { host: 'a.com' }), 'only');
  assert.equal(hit(r, '/h', { host: 'b.com' }), undefined);
  assert.equal(hit(r, '/any', { host: 'b.com' }), 'any');
  assert.equal(hit(r, '/any', { host: '' }), 'any');
});

test('a host-specific route beats a host-less one regardless of priority', () => {
  const r = buildRouter([
    route('generic', '/x', { priority: 1000 }),
    route('hosted', '/x/*', { hosts: ['a.com'], priority: -5 }),
  ]);
  assert.equal(hit(r, '/x/', { host: 'a.com' }), 'hosted');
  assert.equal(hit(r, '/x', { host: 'a.com' }), 'generic');
  assert.equal(hit(r, '/x', { host: 'b.com' }), 'generic');
});

test('a request falls back to host-less routes when the host routes fail their conditions', () => {
  const r = buildRouter([route('hosted', '/x', { hosts: ['a.com'], methods: ['POST'] }), route('generic', '/x')]);
  assert.equal(hit(r, '/x', { host: 'a.com', method: 'POST' }), 'hosted');
  assert.equal(hit(r, '/x', { host: 'a.com', method: 'GET' }), 'generic');
});

test('a wildcard host matches any subdomain depth but not the bare domain', () => {
  const r = buildRouter([route('wild', '/w', { hosts: ['*.example.com'] })]);
  assert.equal(hit(r, '/w', { host: 'a.example.com' }), 'wild');
  assert.equal(hit(r, '/w', { host: 'a.b.example.com' }), 'wild');
  assert.equal(hit(r, '/w', { host: 'example.com' }), undefined);
  assert.equal(hit(r, '/w', { host: 'badexample.com' }), undefined);
});

test('an exact host beats a wildcard, and a longer wildcard beats a shorter one', () => {
  const r = buildRouter([
    route('short', '/p', { hosts: ['*.com'], priority: 50 }),
    route('long', '/p', { hosts: ['*.example.com'], priority: 10 }),
    route('exact', '/p', { hosts: ['api.example.com'] }),
    route('none', '/p', { priority: 100 }),
  ]);
  assert.equal(hit(r, '/p', { host: 'api.example.com' }), 'exact');
  assert.equal(hit(r, '/p', { host: 'www.example.com' }), 'long');
  assert.equal(hit(r, '/p', { host: 'other.com' }), 'short');
  assert.equal(hit(r, '/p', { host: 'other.org' }), 'none');
});

test('a host group falls through to shorter wildcards when its routes do not match', () => {
  const r = buildRouter([
    route('exact-post', '/p', { hosts: ['api.example.com'], methods: ['POST'] }),
    route('wild-other-path', '/q', { hosts: ['*.example.com'] }),
    route('wild', '/p', { hosts: ['*.example.com'] }),
  ]);
  assert.equal(hit(r, '/p', { host: 'api.example.com' }), 'wild');
});

test('host patterns are compared in lower case and a route may list several', () => {
  const r = buildRouter([route('h', '/h', { hosts: ['A.COM', '*.B.com'] })]);
  assert.equal(hit(r, '/h', { host: 'a.com' }), 'h');
  assert.equal(hit(r, '/h', { host: 'x.b.com' }), 'h');
  assert.equal(hit(r, '/h', { host: 'c.com' }), undefined);
});

test('a host pattern with a port is compared against http_host', () => {
  const r = buildRouter([route('port', '/p', { hosts: ['a.com:8080'] }), route('plain', '/p', { hosts: ['a.com'] })]);
  const vars = (port: string) => (name: string) => (name === 'http_host' ? `A.com:${port}` : undefined);
  assert.equal(hit(r, '/p', { host: 'a.com', vars: vars('8080') }), 'port');
  assert.equal(hit(r, '/p', { host: 'a.com', vars: vars('9090') }), 'plain');
});

test('methods restrict a route; absent or empty methods allow any', () => {
  const r = buildRouter([
    route('get', '/m', { methods: ['GET', 'HEAD'] }),
    route('post', '/m', { methods: ['post'] }),
    route('any', '/n', { methods: [] }),
    route('any2', '/o'),
  ]);
  assert.equal(hit(r, '/m', { method: 'HEAD' }), 'get');
  assert.equal(hit(r, '/m', { method: 'POST' }), 'post');
  assert.equal(hit(r, '/m', { method: 'DELETE' }), undefined);
  assert.equal(hit(r, '/n', { method: 'PURGE' }), 'any');
  assert.equal(hit(r, '/o', { method: 'OPTIONS' }), 'any2');
});

test('remote_addrs restrict a route by IPv4, IPv6 and mapped client addresses', () => {
  const r = buildRouter([route('lan', '/r', { remoteAddrs: ['10.0.0.0/8', 'fd00::/8'] }), route('rest', '/r', { priority: -1 })]);
  assert.equal(hit(r, '/r', { remoteAddr: '10.1.2.3' }), 'lan');
  assert.equal(hit(r, '/r', { remoteAddr: '::ffff:10.1.2.3' }), 'lan');
  assert.equal(hit(r, '/r', { remoteAddr: 'fd12::1' }), 'lan');
  assert.equal(hit(r, '/r', { remoteAddr: '192.168.0.1' }), 'rest');
});

test('vars are evaluated against the request variables', () => {
  const r = buildRouter([
    route('beta', '/v', { vars: [['http_x_channel', '==', 'beta'], ['arg_n', '>', 5]] }),
    route('stable', '/v', { priority: -1 }),
  ]);
  const vars = (v: Record<string, string>) => (name: string) => v[name];
  assert.equal(hit(r, '/v', { vars: vars({ http_x_channel: 'beta', arg_n: '6' }) }), 'beta');
  assert.equal(hit(r, '/v', { vars: vars({ http_x_channel: 'beta', arg_n: '5' }) }), 'stable');
  assert.equal(hit(r, '/v', { vars: vars({}) }), 'stable');
});

test('request variables are not read when no candidate has vars', () => {
  const r = buildRouter([route('a', '/a', { vars: [] }), route('b', '/b/*'), route('c', '/c/:id')], WITH_PARAMS);
  const vars = (): unknown => assert.fail('vars should not be read');
  assert.equal(hit(r, '/a', { vars }), 'a');
  assert.equal(hit(r, '/b/1', { vars }), 'b');
  assert.equal(hit(r, '/c/1', { vars }), 'c');
  assert.equal(hit(r, '/zzz', { vars }), undefined);
});

test('all conditions of a candidate must pass', () => {
  const r = buildRouter([route('all', '/all', { methods: ['GET'], remoteAddrs: ['127.0.0.1'], vars: [['arg_k', '==', 'v']] })]);
  const ok = { method: 'GET', remoteAddr: '127.0.0.1', vars: (n: string) => (n === 'arg_k' ? 'v' : undefined) };
  assert.equal(hit(r, '/all', ok), 'all');
  assert.equal(hit(r, '/all', { ...ok, method: 'POST' }), undefined);
  assert.equal(hit(r, '/all', { ...ok, remoteAddr: '127.0.0.2' }), undefined);
  assert.equal(hit(r, '/all', { ...ok, vars: () => 'x' }), undefined);
});

test('a route that cannot be compiled is reported by id', () => {
  const cases: [RouterEntry<string>, RegExp][] = [
    [route('bad-vars', '/x', { vars: [['arg_a', 'xx', '1']] }), /^route bad-vars: invalid vars: invalid operator 'xx'$/],
    [route('bad-vars2', '/x', { vars: ['arg_a', '==', '1'] }), /rule should be wrapped inside brackets/],
    [route('bad-cidr', '/x', { remoteAddrs: ['10.0.0.0/40'] }), /^route bad-cidr: invalid ip address: 10\.0\.0\.0\/40$/],
    [route('no-uri', []), /^route no-uri: missing uri$/],
    [route('empty-uri', ''), /^route empty-uri: invalid uri/],
  ];
  for (const [bad, message] of cases) {
    assert.throws(() => buildRouter([route('good', '/good'), bad]), (err: unknown) => {
      assert.ok(err instanceof RouterBuildError);
      assert.ok(err instanceof Error);
      assert.equal(err.routeId, bad.id);
      assert.match(err.message, message);
      return true;
    });
  }
});

test('size counts the routes and an empty router matches nothing', () => {
  assert.equal(buildRouter([route('a', '/a'), route('b', ['/b', '/c'])]).size, 2);
  const empty = buildRouter<string>([]);
  assert.equal(empty.size, 0);
  assert.equal(empty.match(req('/')), undefined);
});

test('a match without parameters is one shared, frozen object per route', () => {
  const r = buildRouter([route('a', '/a')]);
  const first = r.match(req('/a'));
  assert.equal(r.match(req('/a')), first);
  assert.ok(Object.isFrozen(first));
});

test('ten thousand mixed routes each match their own requests', () => {
  const entries: RouterEntry<string>[] = [];
  const probes: [string, Partial<RouteMatchInput>, string, Record<string, string> | undefined][] = [];
  for (let i = 0; i < 10_000; i++) {
    const id = `r${i}`;
    const host = i % 10 === 0 ? `h${i}.example.com` : undefined;
    const hosts = host === undefined ? (i % 10 === 5 ? [`*.w${i}.net`] : undefined) : [host];
    const reqHost = host ?? (hosts !== undefined ? `x.w${i}.net` : 'any.com');
    const method = i % 3 === 0 ? 'POST' : 'GET';
    switch (i % 4) {
      case 0:
        entries.push(route(id, `/svc/${i}/exact`, { hosts, methods: [method] }));
        probes.push([`/svc/${i}/exact`, { host: reqHost, method }, id, undefined]);
        break;
      case 1:
        entries.push(route(id, `/svc/${i}/*`, { hosts, methods: [method] }));
        probes.push([`/svc/${i}/deep/er`, { host: reqHost, method }, id, undefined]);
        break;
      case 2:
        entries.push(route(id, `/svc/${i}/:name/item/:item`, { hosts, methods: [method] }));
        probes.push([`/svc/${i}/n${i}/item/${i * 7}`, { host: reqHost, method }, id, { name: `n${i}`, item: String(i * 7) }]);
        break;
      default:
        entries.push(route(id, `/svc/${i}`, { hosts, priority: i % 7, vars: [['arg_v', '==', String(i)]] }));
        probes.push([`/svc/${i}`, { host: reqHost, vars: (n) => (n === 'arg_v' ? String(i) : undefined) }, id, undefined]);
    }
  }
  entries.push(route('fallback', '/svc/*'));
  const r = buildRouter(entries, WITH_PARAMS);
  assert.equal(r.size, 10_001);
  for (const [path, over, id, params] of probes) {
    const m = r.match(req(path, over));
    assert.equal(m?.route, id, path);
    assert.deepEqual(m?.params, params, path);
  }
  assert.equal(hit(r, '/svc/2/exact', { host: 'any.com', method: 'DELETE' }), 'fallback');
  assert.equal(hit(r, '/svc/10/exact', { host: 'other.com' }), 'fallback');
  assert.equal(hit(r, '/svc/3', { host: 'any.com' }), 'fallback');
  assert.equal(hit(r, '/nothing', { host: 'any.com' }), undefined);
});

test('an entry memo carries its parsed form to the next build, and the next table still matches by the new order', () => {
  const a = route('a', '/x/*', { methods: ['GET'], memo: {} });
  const b = route('b', '/x/:id', { memo: {} });
  const first = buildRouter([a, b], WITH_PARAMS);
  const prepared = a.memo!.prepared;
  assert.ok(prepared !== undefined, 'buildRouter filled the memo');
  // b changes (a new entry with a fresh memo); a is passed again unchanged with its memo
  const b2 = route('b', '/x/:id', { priority: 10, methods: ['POST'], memo: {} });
  const second = buildRouter([a, b2], WITH_PARAMS);
  assert.equal(a.memo!.prepared, prepared, 'the unchanged entry was not prepared again');
  assert.equal(hit(second, '/x/1', { method: 'GET' }), 'a', 'b2 only takes POST now');
  assert.equal(hit(second, '/x/1', { method: 'POST' }), 'b');
  // the first table is untouched by the second build (in-flight requests keep using it)
  assert.equal(hit(first, '/x/1', { method: 'GET' }), 'b');
});
