import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Gateway } from '../../helpers/gateway.js';
import { eventually } from '../../helpers/gateway.js';
import { startWithAdminRoute } from '../../helpers/admin-route.js';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from '../../helpers/loopback-server.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { assertOwnFraming, get } from '../../helpers/http.js';
import { routeTo, type AdminCall } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { uidBucket } from '../../../src/plugins/common/gray-choice.js';

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;
let cdn: LoopbackServer;
let cdnPort: number;
const seen: ReceivedRequest[] = [];

const FILE = /^\/mfe\/app1\/(base|gray)\/(.+)$/;

/** An object store holding two versions of app1: its pages, a script, a 404 page; anything else is 404. */
function answer(req: ReceivedRequest, res: import('node:http').ServerResponse): void {
  seen.push(req);
  const m = FILE.exec(req.url.split('?')[0]!);
  const file = m?.[2];
  if (file === 'index.html') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.setHeader('etag', '"v1"');
    res.end(`<html><head><title>app1 ${m![1]}</title></head><body><script src="/app1/{version}/main.js"></script></body></html>`);
  } else if (file === 'js/a.js') {
    res.setHeader('content-type', 'text/javascript');
    res.end(`console.log("a.js ${m![1]}")`);
  } else if (file === '404.html') {
    res.setHeader('content-type', 'text/html');
    res.end(`<p>nothing here (${m![1]})</p>`);
  } else {
    res.statusCode = 404;
    res.setHeader('content-type', 'text/plain');
    res.end('missing');
  }
}

const app1 = {
  grayKey: 'userid',
  rules: [{ name: 'beta', grayKeyValue: ['00000002'], grayTagKey: 'level', grayTagValue: ['level5'] }],
  rewrite: {
    host: 'cdn.example',
    indexRouting: { '/app1': '/mfe/app1/{version}/index.html' },
    fileRouting: { '/app1/': '/mfe/app1/{version}' },
    notFoundUri: '/mfe/app1/{version}/404.html',
  },
  baseDeployment: { version: 'base' },
  grayDeployments: [{ name: 'beta', version: 'gray', enabled: true, backendVersion: 'be-gray' }],
  skippedPaths: ['/app1/api/**'],
  injection: { head: ['<meta name="fg">'], globalConfig: { enabled: true, value: '{ "env": "prod" }' } },
};


async function fetched(path: string, headers: Record<string, string> = {}) {
  const before = seen.length;
  const r = await get(gw.url + path, { headers });
  assert.equal(seen.length, before + 1, `one upstream request for ${path}`);
  return { r, upstream: seen.at(-1)! };
}

before(async () => {
  cdn = await startLoopbackServer(answer);
  cdnPort = Number(new URL(cdn.url).port);
  ({ gw, up, call } = await startWithAdminRoute('probe', '/probe', {}, { path: '/probe' }));
  const put = await call('PUT', '/routes/fg', {
    ...routeTo('/app1*', cdnPort),
    plugins: {
      prometheus: {},
      'file-logger': { path: 'fg.log', log_format: { uri: '$request_uri', version: '$frontend_gray_version', source: '$frontend_gray_source', html: '$frontend_gray_html', nf: '$frontend_gray_not_found' } },
      'frontend-gray': app1,
    },
  });
  assert.equal(put.status, 201, put.text);
  await eventually(async () => (await get(gw.url + '/app1/js/a.js')).status === 200);
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await new Promise((resolve) => cdn?.server.close(resolve));
});

test('a user on the allow-list gets the gray page: rewritten path and host, pinned in cookies, HTML edited with its length', async () => {
  const { r, upstream } = await fetched('/app1/orders/7?tab=2', { cookie: 'userid=00000002', 'accept-encoding': 'gzip' });
  assert.equal(upstream.url, '/mfe/app1/gray/index.html?tab=2');
  assert.equal(upstream.headers.host, 'cdn.example');
  assert.equal(upstream.headers['x-higress-tag'], 'gray');
  assert.equal(upstream.headers['accept-encoding'], undefined, 'the page must come uncompressed to be edited');
  assert.equal(r.status, 200);
  assert.equal(r.headers['cache-control'], 'no-cache, no-store, max-age=0, must-revalidate');
  assert.deepEqual(r.headers['set-cookie'], [
    'x-higress-tag=gray; Max-Age=31536000; Path=/; HttpOnly; Secure',
    'x-mse-tag=be-gray; Max-Age=31536000; Path=/; HttpOnly; Secure',
  ]);
  assert.equal(r.headers.etag, undefined);
  assert.equal(r.body, '<html><head><title>app1 gray</title><script>var HIGRESS_CONSOLE_CONFIG = {\nFEATURE_STATUS:{"beta":true},\n  "env": "prod"  \n}\n</script>\n'
    + '<meta name="fg">\n</head><body><script src="/app1/gray/main.js"></script></body></html>');
  assertOwnFraming(r); // an edited body: never the Content-Length from before the edit
});

test('the user id from the header, a cookie tag, or nothing: gray, gray, base (the backend cookie then expires)', async () => {
  assert.equal((await fetched('/app1', { userid: '00000002' })).upstream.url, '/mfe/app1/gray/index.html');
  assert.equal((await fetched('/app1', { cookie: 'level=level5' })).upstream.url, '/mfe/app1/gray/index.html');
  const { r, upstream } = await fetched('/app1', { cookie: 'userid=00000009; level=level1' });
  assert.equal(upstream.url, '/mfe/app1/base/index.html');
  assert.deepEqual(r.headers['set-cookie'], [
    'x-higress-tag=base; Max-Age=31536000; Path=/; HttpOnly; Secure',
    'x-mse-tag=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure',
  ]);
  assert.match(r.body, /FEATURE_STATUS:\{"beta":false\}/);
});

test('files follow the version the page pinned in x-higress-tag; an unknown version is ignored; the query is kept', async () => {
  let { r, upstream } = await fetched('/app1/js/a.js?v=3', { cookie: 'x-higress-tag=gray' });
  assert.equal(upstream.url, '/mfe/app1/gray/js/a.js?v=3');
  assert.equal(r.body, 'console.log("a.js gray")');
  assert.equal(r.headers['set-cookie'], undefined, 'cookies are set on pages only');
  assert.equal(r.headers['cache-control'], undefined);
  ({ upstream } = await fetched('/app1/js/a.js', { cookie: 'x-higress-tag=../../etc' }));
  assert.equal(upstream.url, '/mfe/app1/base/js/a.js');
  ({ upstream } = await fetched('/app1/js/a.js', { cookie: 'userid=00000002' }));
  assert.equal(upstream.url, '/mfe/app1/gray/js/a.js', 'no pinned version: the rules decide');
});

test('a 404 of the versioned file is answered with notFoundUri of that version, fetched from the same node', async () => {
  const before = seen.length;
  const r = await get(gw.url + '/app1/js/gone.js', { headers: { cookie: 'x-higress-tag=gray' } });
  assert.deepEqual(seen.slice(before).map((s) => [s.url, s.headers.host]), [['/mfe/app1/gray/js/gone.js', 'cdn.example'], ['/mfe/app1/gray/404.html', 'cdn.example']]);
  assert.equal(r.status, 404);
  assert.equal(r.headers['content-type'], 'text/html');
  assert.equal(r.body, '<p>nothing here (gray)</p>');
  assertOwnFraming(r); // an edited body: never the Content-Length from before the edit
});

test('skippedPaths go through untouched', async () => {
  const { upstream } = await fetched('/app1/api/users', { cookie: 'userid=00000002' });
  assert.equal(upstream.url, '/app1/api/users');
  assert.equal(upstream.headers['x-higress-tag'], undefined);
});

test('percentage mode: CRC-32 of the unique id picks the version, the id is pinned in a cookie and honoured next time', async () => {
  const put = await call('PUT', '/routes/fgw', {
    ...routeTo('/w/*', up.port),
    plugins: { 'frontend-gray': { baseDeployment: { version: 'base' }, grayDeployments: [{ name: 'canary', version: 'canary', enabled: true, weight: 30 }] } },
  });
  assert.equal(put.status, 201, put.text);
  await eventually(async () => (await get(gw.url + '/w/x')).status === 200);
  let canary = 0;
  for (let i = 0; i < 40; i++) {
    const uid = `user${i}`;
    const expected = uidBucket(uid) < 30 ? 'canary' : 'base';
    if (expected === 'canary') canary++;
    for (const headers of [{ cookie: `x-higress-uid=${uid}` }, { 'x-higress-uid': uid }] as Record<string, string>[]) {
      const r = await get(gw.url + '/w/page', { headers });
      assert.equal(r.json().headers['x-higress-tag'], expected, uid);
    }
  }
  assert.ok(canary > 0 && canary < 40, `both versions used (${canary} canary)`);
  const first = await get(gw.url + '/w/page');
  const pinned = (first.headers['set-cookie'] as string[]).find((c) => c.startsWith('x-higress-uid='))!;
  assert.match(pinned, /^x-higress-uid=[0-9a-f]{32}; Max-Age=31536000; Path=\/; HttpOnly; Secure$/);
  const uid = pinned.slice('x-higress-uid='.length, pinned.indexOf(';'));
  const version = first.json().headers['x-higress-tag'];
  assert.equal(version, uidBucket(uid) < 30 ? 'canary' : 'base');
  assert.equal(first.json().body, '', 'a JSON page body is not edited');
  for (let i = 0; i < 3; i++) {
    assert.equal((await get(gw.url + '/w/page', { headers: { cookie: `x-higress-uid=${uid}` } })).json().headers['x-higress-tag'], version);
  }
});

test('indexPaths, graySubKey, skippedByHeaders and versionPredicates', async () => {
  const put = await call('PUT', '/routes/fgm', {
    ...routeTo('/m/*', up.port),
    plugins: {
      'frontend-gray': {
        grayKey: 'appInfo', graySubKey: 'user.id',
        rules: [{ name: 'beta', grayKeyValue: ['u2'] }],
        indexPaths: ['/m/**/manifest.json'],
        skippedByHeaders: { 'X-Requested-With': 'XMLHttpRequest' },
        rewrite: { fileRouting: { '/m/': '/static/{version}' } },
        baseDeployment: { version: 'base' },
        grayDeployments: [{ name: 'beta', version: 'gray', enabled: true, versionPredicates: { '/m/legacy/': 'gray-legacy' } }],
      },
    },
  });
  assert.equal(put.status, 201, put.text);
  await eventually(async () => (await get(gw.url + '/m/a.js')).status === 200);
  const u2 = { cookie: `appInfo=${encodeURIComponent(JSON.stringify({ user: { id: 'u2' } }))}` };
  const manifest = await get(gw.url + '/m/app/manifest.json', { headers: u2 });
  assert.equal(manifest.json().url, '/static/gray/app/manifest.json', 'an index path is decided by the rules');
  assert.equal(manifest.headers['cache-control'], 'no-cache, no-store, max-age=0, must-revalidate');
  assert.equal(manifest.headers['set-cookie'], undefined);
  assert.equal((await get(gw.url + '/m/legacy/x.js', { headers: u2 })).json().url, '/static/gray-legacy/legacy/x.js');
  assert.equal((await get(gw.url + '/m/a.js', { headers: u2 })).json().url, '/static/gray/a.js');
  assert.equal((await get(gw.url + '/m/a.js')).json().url, '/static/base/a.js');
  assert.equal((await get(gw.url + '/m/a.js', { headers: { 'x-requested-with': 'XMLHttpRequest' } })).json().url, '/m/a.js');
});

test('a configured uniqueGrayTag is read from its header or cookie (name as written) and set on pages', async () => {
  const put = await call('PUT', '/routes/fgu', {
    ...routeTo('/u/*', up.port),
    plugins: { 'frontend-gray': { uniqueGrayTag: 'Visitor', baseDeployment: { version: 'base' } } },
  });
  assert.equal(put.status, 201, put.text);
  await eventually(async () => (await get(gw.url + '/u/x')).status === 200);
  for (const headers of [{ cookie: 'Visitor=v-1' }, { visitor: 'v-1' }] as Record<string, string>[]) {
    const r = await get(gw.url + '/u/page', { headers });
    assert.deepEqual(r.headers['set-cookie'], ['x-higress-tag=base; Max-Age=31536000; Path=/; HttpOnly; Secure', 'Visitor=v-1; Max-Age=31536000; Path=/; HttpOnly; Secure']);
  }
  const forged = await get(gw.url + '/u/page', { headers: { cookie: 'Visitor=a; Domain=evil' } });
  assert.match((forged.headers['set-cookie'] as string[])[1]!, /^Visitor=a; Max/, 'the cookie parser stops at ;');
  const bad = await get(gw.url + '/u/page', { headers: { visitor: 'a b' } });
  assert.match((bad.headers['set-cookie'] as string[])[1]!, /^Visitor=[0-9a-f]{32}; /, 'an id that could not be echoed safely is replaced');
});

test('html replaces the page, and a 404 page becomes a 200 with it', async () => {
  const put = await call('PUT', '/routes/fgh', {
    ...routeTo('/h/*', cdnPort),
    plugins: { 'frontend-gray': { baseDeployment: { version: 'base' }, html: '<html><body>version {version}</body></html>' } },
  });
  assert.equal(put.status, 201, put.text);
  await eventually(async () => (await get(gw.url + '/h/x')).status === 200);
  const r = await get(gw.url + '/h/nowhere');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/html');
  assert.equal(r.body, '<html><body>version base</body></html>');
});

test('the access log names the version, how it was chosen and what became of the body; requests are counted by version', async () => {
  const before = await metricValue(gw, 'gatehouse_frontend_gray_requests_total{route="fg",version="gray"}');
  await get(gw.url + '/app1/log1', { headers: { cookie: 'userid=00000002' } });
  await get(gw.url + '/app1/js/log2.js', { headers: { cookie: 'x-higress-tag=gray' } });
  await get(gw.url + '/app1/log3');
  const log = join(gw.dir, 'data', 'logs', 'fg.log');
  const pick = (e: Record<string, unknown>) => ({ version: e.version, source: e.source, html: e.html, nf: e.nf });
  assert.deepEqual(pick(await logEntry(log, 'uri', '/app1/log1')), { version: 'gray', source: 'rule', html: 'rewritten', nf: null });
  assert.deepEqual(pick(await logEntry(log, 'uri', '/app1/js/log2.js')), { version: 'gray', source: 'cookie', html: null, nf: 'served' });
  assert.deepEqual(pick(await logEntry(log, 'uri', '/app1/log3')), { version: 'base', source: 'base', html: 'rewritten', nf: null });
  assert.equal(await metricValue(gw, 'gatehouse_frontend_gray_requests_total{route="fg",version="gray"}'), before + 2);
});

test('bad config is refused with a 400 naming the field', async () => {
  const base = { baseDeployment: { version: 'base' } };
  for (const [conf, field] of [
    [{}, 'baseDeployment'],
    [{ ...base, grayDeployments: [{ name: 'beta', version: 'g', enabled: true }] }, 'grayDeployments\\[0\\]\\.name'],
    [{ ...base, grayDeployments: [{ name: 'a', version: 'a', enabled: true, weight: 101 }] }, 'weight'],
    [{ ...base, rules: [{ name: 'r', grayKeyValue: ['1'] }] }, 'grayKeyValue'],
    [{ ...base, rewrite: { indexRouting: { app1: '/x' } } }, 'indexRouting'],
    [{ ...base, rewrite: { notFoundUri: '/a/../b' } }, 'notFoundUri'],
    [{ ...base, skippedPaths: ['/a**'] }, 'skippedPaths\\[0\\]'],
    [{ ...base, useManifestAsEntry: true }, 'useManifestAsEntry'],
    [{ ...base, includePathPrefixes: ['/app'] }, 'includePathPrefixes'],
    [{ ...base, injection: { globalConfig: { key: 'a-b' } } }, 'key'],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { 'frontend-gray': conf } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(field), `${JSON.stringify(conf)}: ${r.body.error_msg}`);
  }
});
