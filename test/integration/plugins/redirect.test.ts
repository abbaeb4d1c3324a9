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
      { id: 'uri', uri: '/old', upstream, plugins: { redirect: { uri: '/new?from=$uri', ret_code: 301 } } },
      { id: 'https', uri: '/secure/*', upstream, plugins: { redirect: { http_to_https: true } } },
      { id: 'regex', uri: '/r/*', upstream, plugins: { redirect: { regex_uri: ['^/r/(\\w+)$', '/target/$1'], append_query_string: true } } },
    ],
  })));
});

after(() => stopWithUpstream(gw, up));

test('uri with $vars and ret_code', async () => {
  const before = up.seen.length;
  const r = await get(gw.url + '/old');
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, '/new?from=/old');
  assert.equal(up.seen.length, before, 'the upstream is not called');
});

test('http_to_https: 301 for GET, 308 for POST, to the same host and request uri', async () => {
  const r = await get(gw.url + '/secure/page?x=1', { headers: { host: 'foo.example' } });
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, 'https://foo.example/secure/page?x=1');
  const p = await get(gw.url + '/secure/form', { method: 'POST', body: 'a=1', headers: { host: 'foo.example' } });
  assert.equal(p.status, 308);
  // already https behind a TLS-terminating proxy: no redirect
  const f = await get(gw.url + '/secure/page', { headers: { 'x-forwarded-proto': 'https' } });
  assert.equal(f.status, 200);
});

test('regex_uri redirects on a match, with the query string appended; no match passes through', async () => {
  const r = await get(gw.url + '/r/abc?k=v');
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, '/target/abc?k=v');
  const miss = await get(gw.url + '/r/a/b');
  assert.equal(miss.status, 200);
  assert.equal(miss.json().url, '/r/a/b');
});
