import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      // the seed's example (003), as written
      { id: 'seed', uri: '/get', upstream, plugins: {
        'proxy-rewrite': { _meta: { filter: [['arg_version', '==', 'v2']] }, uri: '/anything' },
      } },
      { id: 'regex', uri: '/iresty/*', upstream, plugins: {
        'proxy-rewrite': {
          regex_uri: ['^/iresty/(.*)/(.*)', '/$1-$2'],
          host: 'example.com',
          headers: { add: { 'X-Added': 'one' }, set: { 'X-Cap': '$1', 'X-Uri': '$uri' }, remove: ['X-Drop'] },
        },
      } },
      { id: 'vars', uri: '/vars', upstream, plugins: { 'proxy-rewrite': { uri: '/echo/$arg_name', method: 'POST' } } },
      { id: 'legacy', uri: '/legacy', upstream, plugins: { 'proxy-rewrite': { headers: { 'X-Api-Version': 'v2' } } } },
      { id: 'own-query', uri: '/own-query', upstream, plugins: { 'proxy-rewrite': { uri: '/x?a=1' } } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

test('seed example: _meta.filter decides, the query string is kept', async () => {
  assert.equal((await get(gw.url + '/get')).json().url, '/get');
  assert.equal((await get(gw.url + '/get?version=v2')).json().url, '/anything?version=v2');
  assert.equal((await get(gw.url + '/get?version=v1')).json().url, '/get?version=v1');
});

test('regex_uri, host and headers add/set/remove', async () => {
  const r = await get(gw.url + '/iresty/hello/world?q=1', { headers: { 'x-drop': 'bye', 'x-added': 'zero' } });
  assert.equal(r.status, 200);
  const echo = r.json();
  assert.equal(echo.url, '/hello-world?q=1');
  assert.equal(echo.headers.host, 'example.com');
  assert.equal(echo.headers['x-cap'], 'hello');
  assert.equal(echo.headers['x-uri'], '/iresty/hello/world');
  assert.equal(echo.headers['x-added'], 'zero, one');
  assert.equal(echo.headers['x-drop'], undefined);
});

test('uri with $vars and method', async () => {
  const echo = (await get(gw.url + '/vars?name=jack')).json();
  assert.equal(echo.url, '/echo/jack?name=jack');
  assert.equal(echo.method, 'POST');
});

test('legacy headers map sets headers; uri untouched', async () => {
  const echo = (await get(gw.url + '/legacy?x=1')).json();
  assert.equal(echo.url, '/legacy?x=1');
  assert.equal(echo.headers['x-api-version'], 'v2');
});

test('a new uri with its own query gets the client query appended', async () => {
  assert.equal((await get(gw.url + '/own-query?b=2')).json().url, '/x?a=1&b=2');
});

test('a config prepare refuses is reported and the route is not served', async () => {
  const from = gw.output().length;
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  await gw.writeConfig({ routes: [
    { id: 'seed', uri: '/get', upstream, plugins: { 'proxy-rewrite': { uri: '/anything' } } },
    { id: 'bad', uri: '/bad', upstream, plugins: { 'proxy-rewrite': { regex_uri: ['^/(a', '/b'] } } },
  ] });
  await gw.waitForOutput(/invalid regex_uri\(\^\/\(a, \/b\)/, from);
});
