import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

let gw: Gateway;
let up: TestUpstream;

const MAX_BODY = 4096;
const LOGGED = { path: 'tf.log', log_format: { uri: '$request_uri', req: '$transformer_request_body', resp: '$transformer_response_body' } };

const HEADER_RULES = [
  { operate: 'remove', headers: [{ key: 'X-Remove' }] },
  { operate: 'rename', headers: [{ oldKey: 'X-Old', newKey: 'X-Renamed' }] },
  { operate: 'replace', headers: [{ key: 'x-replace', newValue: 'replaced' }, { key: 'x-absent', newValue: 'added-by-replace' }] },
  { operate: 'add', headers: [{ key: 'x-add', value: 'host-$1', host_pattern: '^(.*)\\.com$' }, { key: 'x-kept', value: 'no' }] },
  { operate: 'append', headers: [{ key: 'x-add', appendValue: 'path-\\$1', path_pattern: '^.*?/(\\w+)[?]?.*$' }] },
  { operate: 'map', headers: [{ fromKey: 'x-add', toKey: 'x-map' }] },
  { operate: 'dedupe', headers: [{ key: 'x-dup-last', strategy: 'RETAIN_LAST' }, { key: 'x-dup-unique', strategy: 'RETAIN_UNIQUE' }] },
];

const QUERY_RULES = [
  { operate: 'remove', querys: [{ key: 'k1' }] },
  { operate: 'rename', querys: [{ oldKey: 'k2', newKey: 'k2-new' }] },
  { operate: 'replace', querys: [{ key: 'k2-new', newValue: 'v2 new' }] },
  { operate: 'add', querys: [{ key: 'k3', value: 'v31-$1', path_pattern: '^/(\\w+).*$' }] },
  { operate: 'append', querys: [{ key: 'k3', appendValue: 'v32' }] },
  { operate: 'map', querys: [{ fromKey: 'k3', toKey: 'k4' }] },
  { operate: 'dedupe', querys: [{ key: 'k4', strategy: 'RETAIN_FIRST' }, { key: 'k5', strategy: 'SPLIT_AND_RETAIN_LAST' }] },
];

const BODY_RULES = [
  { operate: 'remove', body: [{ key: 'a1' }, { key: 'nested.drop' }] },
  { operate: 'rename', body: [{ oldKey: 'a2', newKey: 'a2-new' }] },
  { operate: 'replace', body: [{ key: 'a3', newValue: '42', value_type: 'number' }, { key: 'list.1.name', newValue: 'second' }] },
  { operate: 'add', body: [{ key: 'a1-new', value: 't1-new' }, { key: 'made.deep', value: '{"x":true}', value_type: 'object' }] },
  { operate: 'append', body: [{ key: 'a1-new', appendValue: 't1-$1-append', host_pattern: '^(.*)\\.com$' }] },
  { operate: 'map', body: [{ fromKey: 'a1-new', toKey: 'a4' }] },
  { operate: 'map', mapSource: 'headers', body: [{ fromKey: 'x-user', toKey: 'user' }] },
  { operate: 'map', mapSource: 'body', headers: [{ fromKey: 'nested.id', toKey: 'x-from-body' }], querys: [{ fromKey: 'a3', toKey: 'q' }] },
  { operate: 'dedupe', body: [{ key: 'a4', strategy: 'RETAIN_FIRST' }, { key: 'tags', strategy: 'RETAIN_UNIQUE' }] },
];

const RESP_RULES = [
  { operate: 'remove', headers: [{ key: 'x-upstream' }], body: [{ key: 'headers' }] },
  { operate: 'rename', headers: [{ oldKey: 'content-type', newKey: 'x-was-type' }], body: [{ oldKey: 'method', newKey: 'verb' }] },
  { operate: 'replace', headers: [{ key: 'x-was-type', newValue: 'json' }], body: [{ key: 'upstream', newValue: 'hidden' }] },
  { operate: 'add', headers: [{ key: 'x-a', value: 'a' }], body: [{ key: 'flag', value: 'true', value_type: 'boolean' }] },
  { operate: 'append', headers: [{ key: 'x-a', appendValue: 'b' }, { key: 'x-a', appendValue: 'a' }], body: [{ key: 'url', appendValue: 'more' }, { key: 'url', appendValue: 'more' }] },
  { operate: 'map', headers: [{ fromKey: 'x-a', toKey: 'x-a-copy' }], body: [{ fromKey: 'verb', toKey: 'method2' }] },
  { operate: 'map', mapSource: 'headers', body: [{ fromKey: 'x-was-type', toKey: 'from_header' }] },
  { operate: 'dedupe', headers: [{ key: 'x-a', strategy: 'RETAIN_UNIQUE' }], body: [{ key: 'url', strategy: 'RETAIN_UNIQUE' }] },
];

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'h', uri: '/get', upstream, plugins: { transformer: { reqRules: HEADER_RULES } } },
      { id: 'q', uri: '/query', upstream, plugins: { transformer: { reqRules: QUERY_RULES } } },
      { id: 'mb', uri: '/map-body', upstream, plugins: { transformer: { reqRules: [{ operate: 'map', mapSource: 'body', headers: [{ fromKey: 'user.id', toKey: 'x-user-id' }] }] } } },
      { id: 'b', uri: '/body', upstream, plugins: { transformer: { reqRules: BODY_RULES }, 'file-logger': LOGGED } },
      { id: 'r', uri: '/resp', upstream, plugins: { transformer: { respRules: RESP_RULES }, 'file-logger': LOGGED } },
      { id: 'rb', uri: '/bytes/*', upstream, plugins: { transformer: { respRules: [{ operate: 'remove', body: [{ key: 'x' }] }] } } },
    ],
  }), { node: { max_buffered_body_size: MAX_BODY }, extra: { log_dir: '.' } }));
});

after(() => stopWithUpstream(gw, up));

const json = { 'content-type': 'application/json' };

test('request headers: remove, rename, replace, add, append, map, dedupe in the order written', async () => {
  const r = await get(gw.url + '/get', { headers: {
    host: 'foo.bar.com', 'x-remove': 'gone', 'x-old': 'test', 'x-replace': 'not', 'x-kept': 'yes',
    'x-dup-last': 'a, b, c', 'x-dup-unique': '1,2,3,3,2,1',
  } });
  assert.equal(r.status, 200, r.body);
  const h = r.json().headers;
  assert.equal(h['x-remove'], undefined);
  assert.equal(h['x-old'], undefined);
  assert.equal(h['x-renamed'], 'test');
  assert.equal(h['x-replace'], 'replaced');
  assert.equal(h['x-absent'], undefined, 'replace leaves an absent header absent (Higress\'s code)');
  assert.equal(h['x-kept'], 'yes', 'add leaves a present header alone');
  assert.equal(h['x-add'], 'host-foo.bar, path-get');
  assert.equal(h['x-map'], 'host-foo.bar, path-get');
  assert.equal(h['x-dup-last'], 'c');
  assert.equal(h['x-dup-unique'], '1, 2, 3');
  const other = (await get(gw.url + '/get', { headers: { host: 'example.org' } })).json().headers;
  assert.equal(other['x-add'], 'path-get', 'an item whose host_pattern does not match is skipped');
});

test('query arguments: every operation, untouched arguments keep their bytes', async () => {
  const r = await get(gw.url + '/query?k1=v11&k1=v12&k2=v2&keep=a%2Fb&k5=x,y,z');
  assert.equal(r.status, 200, r.body);
  // a renamed or newly written argument goes last; a replaced one stays where it was
  assert.equal(r.json().url, '/query?keep=a%2Fb&k5=z&k2-new=v2%20new&k3=v31-query&k3=v32&k4=v31-query');
});

test('JSON request body: every operation, maps between body, headers and query, correct length', async () => {
  const body = JSON.stringify({ a1: 't1', a2: 't2', a3: 't3', nested: { id: 7, drop: 1 }, list: [{ name: 'a' }, { name: 'b' }], tags: ['x', 'y', 'x'] });
  const r = await get(gw.url + '/body?log=json', { method: 'POST', headers: { ...json, host: 'foo.bar.com', 'x-user': 'alice' }, body });
  assert.equal(r.status, 200, r.body);
  const seen = r.json();
  const sent = JSON.parse(seen.body);
  assert.deepEqual(sent, {
    nested: { id: 7 }, list: [{ name: 'a' }, { name: 'second' }], tags: ['x', 'y'],
    'a2-new': 't2', a3: 42, 'a1-new': ['t1-new', 't1-foo.bar-append'], made: { deep: { x: true } }, a4: 't1-new', user: 'alice',
  });
  assert.equal(Number(seen.headers['content-length']), Buffer.byteLength(seen.body));
  assert.equal(seen.headers['x-from-body'], '7');
  // headers, then query, then body: the query item read a3 before the body items replaced it
  assert.equal(seen.url, '/body?log=json&q=t3');
  const odd = await get(gw.url + '/body', { method: 'POST', headers: json, body: JSON.stringify({ nested: { id: 'a\r\nx-evil: 1 é 名' } }) });
  assert.equal(odd.status, 200, odd.body);
  assert.equal(odd.json().headers['x-from-body'], 'a%0D%0Ax-evil: 1 é %E5%90%8D', 'a value a header cannot carry is percent-encoded');
  assert.equal(odd.json().headers['x-evil'], undefined);
});

test('a body only mapped from is read but sent as the client wrote it', async () => {
  const body = '{ "user" : { "id" : 12 } }';
  const r = await get(gw.url + '/map-body', { method: 'POST', headers: json, body });
  assert.equal(r.json().headers['x-user-id'], '12');
  assert.equal(r.json().body, body);
});

test('a non-JSON, invalid or too large request body goes through untouched and is counted', async () => {
  const series = (reason: string): string => `gatehouse_transformer_body_skipped_total{route="b",side="request",reason="${reason}"}`;
  const before = await Promise.all(['not_json', 'invalid_json', 'too_large'].map((r) => metricValue(gw, series(r))));
  const form = await get(gw.url + '/body?log=form', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a1=t1' });
  assert.equal(form.json().body, 'a1=t1');
  const broken = await get(gw.url + '/body?log=broken', { method: 'POST', headers: json, body: '{"a1":' });
  assert.equal(broken.json().body, '{"a1":');
  const big = JSON.stringify({ a1: 'x'.repeat(MAX_BODY) });
  const large = await get(gw.url + '/body?log=large', { method: 'POST', headers: json, body: big });
  assert.equal(large.status, 200);
  assert.equal(large.json().body, big);
  const after = await Promise.all(['not_json', 'invalid_json', 'too_large'].map((r) => metricValue(gw, series(r))));
  assert.deepEqual(after, before.map((n) => n + 1));
  const log = join(gw.dir, 'tf.log');
  assert.equal((await logEntry(log, 'uri', '/body?log=json')).req, 'rewritten');
  assert.equal((await logEntry(log, 'uri', '/body?log=form')).req, 'not_json');
  assert.equal((await logEntry(log, 'uri', '/body?log=broken')).req, 'invalid_json');
  assert.equal((await logEntry(log, 'uri', '/body?log=large')).req, 'too_large');
});

test('response headers and JSON body: every operation', async () => {
  const r = await get(gw.url + '/resp?log=resp');
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['x-upstream'], undefined);
  assert.equal(r.headers['content-type'], undefined);
  assert.equal(r.headers['x-was-type'], 'json');
  assert.equal(r.headers['x-a'], 'a, b');
  assert.equal(r.headers['x-a-copy'], 'a, b, a');
  const body = r.json();
  assert.equal(body.headers, undefined);
  assert.equal(body.method, undefined);
  assert.equal(body.verb, 'GET');
  assert.equal(body.method2, 'GET');
  assert.equal(body.upstream, 'hidden');
  assert.equal(body.flag, true);
  assert.deepEqual(body.url, ['/resp?log=resp', 'more']);
  assert.equal(body.from_header, 'json');
  assert.equal((await logEntry(join(gw.dir, 'tf.log'), 'uri', '/resp?log=resp')).resp, 'rewritten');
});

test('a non-JSON or too large response body goes through untouched and is counted', async () => {
  const notJson = 'gatehouse_transformer_body_skipped_total{route="rb",side="response",reason="not_json"}';
  const before = await metricValue(gw, notJson);
  const bytes = await get(gw.url + '/bytes/10');
  assert.equal(bytes.body, 'a'.repeat(10));
  assert.equal(await metricValue(gw, notJson), before + 1);
  const tooLarge = 'gatehouse_transformer_body_skipped_total{route="r",side="response",reason="too_large"}';
  const large = await get(gw.url + '/resp?log=large', { method: 'POST', body: 'x'.repeat(MAX_BODY) });
  assert.equal(large.status, 200);
  assert.equal(large.json().upstream, 'a', 'the body is the upstream\'s');
  assert.equal(large.headers['x-was-type'], 'json', 'headers are still rewritten');
  assert.equal(await metricValue(gw, tooLarge), 1);
  assert.equal((await logEntry(join(gw.dir, 'tf.log'), 'uri', '/resp?log=large')).resp, 'too_large');
});

test('bad config is refused through the Admin API with a 400 naming the field', () => withPluginRoutes('transformer', async (put) => {
  const refused = async (conf: Record<string, unknown>, field: RegExp): Promise<void> => {
    const r = await put(conf);
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, field);
  };
  await refused({}, /reqRules|respRules/);
  await refused({ reqRules: [{ operate: 'move', headers: [{ key: 'a' }] }] }, /operate/);
  await refused({ reqRules: [{ operate: 'remove', headers: [{ key: 'a', newValue: 'b' }] }] }, /reqRules\[0\]\.headers\[0\]\.newValue: not used by operate remove/);
  await refused({ reqRules: [{ operate: 'rename', querys: [{ oldKey: 'a' }] }] }, /reqRules\[0\]\.querys\[0\]\.newKey: required/);
  await refused({ reqRules: [{ operate: 'remove', body: [{ key: 'friends.#.name' }] }] }, /reqRules\[0\]\.body\[0\]\.key: .*GJSON/);
  await refused({ reqRules: [{ operate: 'add', body: [{ key: 'n', value: 'x', value_type: 'number' }] }] }, /reqRules\[0\]\.body\[0\]\.value: not a number/);
  await refused({ reqRules: [{ operate: 'add', headers: [{ key: 'n', value: 'x', value_type: 'number' }] }] }, /headers\[0\]\.value_type/);
  await refused({ reqRules: [{ operate: 'add', headers: [{ key: 'n', value: 'x', host_pattern: '(' }] }] }, /headers\[0\]\.host_pattern/);
  await refused({ reqRules: [{ operate: 'add', headers: [{ key: 'n', value: 'x', host_pattern: 'a', path_pattern: 'b' }] }] }, /path_pattern/);
  await refused({ reqRules: [{ operate: 'remove', mapSource: 'body', headers: [{ key: 'a' }] }] }, /reqRules\[0\]\.mapSource/);
  await refused({ respRules: [{ operate: 'remove', querys: [{ key: 'a' }] }] }, /respRules\[0\]\.querys/);
  await refused({ respRules: [{ operate: 'map', mapSource: 'body', headers: [{ fromKey: 'a', toKey: 'b' }] }] }, /respRules\[0\]\.mapSource/);
  await refused({ reroute: true, reqRules: [{ operate: 'remove', headers: [{ key: 'a' }] }] }, /reroute/);
  await refused({ reqRules: [{ operate: 'remove', headers: [{ key: 'a' }] }], extra: 1 }, /extra/);
  assert.equal((await put({ reroute: false, reqRules: [{ operate: 'remove', headers: [{ key: 'a' }] }] })).status, 201);
}));
