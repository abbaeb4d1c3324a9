// The Admin API as APISIX clients see it: paths, verbs, v3 envelopes, ids, lists,
// PATCH semantics and referential integrity, against a real gateway on sqlite.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { makeCert } from '../../helpers/certs.js';
import { adminClient, type AdminCall } from './client.js';
import { makeExpiredCert } from './certs.js';

let gw: Gateway;
let call: AdminCall;
const upstream = { nodes: { '127.0.0.1:1980': 1 } };

before(async () => {
  gw = await startGateway({ store: 'sqlite' });
  call = adminClient(gw);
});
after(async () => { await gw?.stop(); });

const ok = (r: { status: number; text: string }, status: number): void => assert.equal(r.status, status, r.text);

describe('envelopes and verbs', () => {
  test('a PUT creates (201) then replaces (200), keeping create_time, with the v3 envelope', async () => {
    const first = await call('PUT', '/upstreams/env1', upstream);
    ok(first, 201);
    assert.equal(first.headers['x-api-version'], 'v3');
    assert.equal(first.body.key, '/apisix/upstreams/env1');
    assert.equal(first.body.value.id, 'env1');
    assert.ok(Number.isInteger(first.body.value.create_time) && first.body.value.create_time > 1_600_000_000);
    const second = await call('PUT', '/upstreams/env1', { ...upstream, desc: 'two' });
    ok(second, 200);
    assert.equal(second.body.value.create_time, first.body.value.create_time);
    assert.ok(second.body.value.update_time >= first.body.value.update_time);

    const got = await call('GET', '/upstreams/env1');
    ok(got, 200);
    assert.deepEqual(Object.keys(got.body).sort(), ['createdIndex', 'key', 'modifiedIndex', 'value']);
    assert.equal(got.body.createdIndex, first.body.createdIndex);
    assert.ok(got.body.modifiedIndex > got.body.createdIndex);
    assert.equal(got.body.value.desc, 'two');
  });

  test('a POST generates a sortable 20-digit id', async () => {
    const a = await call('POST', '/upstreams', upstream);
    const b = await call('POST', '/upstreams', upstream);
    ok(a, 201);
    assert.match(a.body.value.id, /^\d{20}$/);
    assert.equal(a.body.key, `/apisix/upstreams/${a.body.value.id}`);
    assert.ok(b.body.value.id > a.body.value.id);
  });

  test('a DELETE answers the key and deleted "1", then the object is gone', async () => {
    await call('PUT', '/upstreams/gone', upstream);
    const del = await call('DELETE', '/upstreams/gone');
    ok(del, 200);
    assert.deepEqual(del.body, { key: '/apisix/upstreams/gone', deleted: '1' });
    const again = await call('GET', '/upstreams/gone');
    ok(again, 404);
    assert.deepEqual(again.body, { error_msg: 'Key not found' });
    ok(await call('DELETE', '/upstreams/gone'), 404);
  });

  // [path, a valid body, POST allowed, PATCH allowed]
  const kinds: [string, Record<string, unknown>, boolean, boolean][] = [
    ['routes', { uri: '/kinds', upstream }, true, true],
    ['services', { upstream }, true, true],
    ['upstreams', upstream, true, true],
    ['consumer_groups', { plugins: {} }, false, true],
    ['plugin_configs', { plugins: {} }, false, true],
    ['global_rules', { plugins: {} }, false, true],
    ['plugin_metadata', { allow_origins: { site: 'https://a.example' } }, false, false],
  ];
  for (const [kind, body, post, patch] of kinds) {
    test(`${kind}: PUT, GET, list, PATCH and DELETE behave per the APISIX method table`, async () => {
      // plugin metadata is keyed by plugin name
      const id = kind === 'plugin_metadata' ? 'cors' : 'k1';
      ok(await call('PUT', `/${kind}/${id}`, body), 201);
      const got = await call('GET', `/${kind}/${id}`);
      ok(got, 200);
      assert.equal(got.body.key, `/apisix/${kind}/${id}`);
      const list = await call('GET', `/${kind}`);
      ok(list, 200);
      assert.ok(list.body.list.some((e: { key: string }) => e.key === `/apisix/${kind}/${id}`));
      assert.equal(list.body.total, list.body.list.length);
      const posted = await call('POST', `/${kind}`, body);
      if (post) ok(posted, 201);
      else assert.deepEqual([posted.status, typeof posted.body.error_msg], [405, 'string'], posted.text);
      // global rules have no desc: patch their plugins instead
      const change = kind === 'global_rules' ? { plugins: { 'request-id': {} } } : { desc: 'patched' };
      const patched = await call('PATCH', `/${kind}/${id}`, change);
      if (patch) {
        ok(patched, 200);
        if (kind === 'global_rules') assert.ok(patched.body.value.plugins['request-id'] !== undefined, patched.text);
        else assert.equal(patched.body.value.desc, 'patched');
      } else {
        ok(patched, 405);
      }
      ok(await call('DELETE', `/${kind}/${id}`), 200);
      ok(await call('GET', `/${kind}/${id}`), 404);
    });
  }

  test('an unknown resource is a 404 naming it; a wrong method on the collection is refused', async () => {
    const r = await call('GET', '/nothing');
    ok(r, 404);
    assert.deepEqual(r.body, { error_msg: 'Unsupported resource type: nothing' });
    const missingId = await call('PUT', '/routes', { uri: '/x', upstream });
    ok(missingId, 400);
    assert.equal(missingId.body.error_msg, 'missing route id');
    ok(await call('PUT', '/plugin_metadata', {}), 400);
  });
});

describe('plugin checks', () => {
  test('unknown plugins, bad plugin configs, bad vars and unknown metadata names are 400s', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['/routes/pc', { uri: '/pc', upstream, plugins: { 'no-such-plugin': {} } }, /unknown plugin \[no-such-plugin\]/],
      ['/routes/pc', { uri: '/pc', upstream, plugins: { 'ip-restriction': { whitelist: 'nope' } } },
        /^failed to check the configuration of plugin ip-restriction err: /],
      ['/routes/pc', { uri: '/pc', upstream, vars: [['arg_x', 'no-op', 1]] }, /^failed to validate the 'vars' expression: /],
      ['/consumers/pc', { username: 'pc', plugins: { 'key-auth': {} } }, /key-auth/],
      ['/plugin_metadata/no-such-plugin', { a: 1 }, /^invalid plugin name$/],
      // a plugin that reads no metadata: APISIX's answer, nothing stored
      ['/plugin_metadata/limit-req', { a: 1 }, /^no metadata schema for plugin limit-req$/],
      ['/plugin_metadata/cors', { allow_origins: { a: 'not an origin' } }, /^invalid configuration: property "allow_origins\.a"/],
    ];
    for (const [path, body, msg] of cases) {
      const r = await call('PUT', path, body);
      assert.equal(r.status, 400, `${path}: ${r.text}`);
      assert.match(r.body.error_msg, msg, path);
    }
    ok(await call('PUT', '/consumers/pc', { username: 'pc' }), 201);
    const cred = await call('PUT', '/consumers/pc/credentials/c', { plugins: { 'ip-restriction': { whitelist: ['10.0.0.0/8'] } } });
    assert.equal(cred.status, 400, cred.text);
    assert.match(cred.body.error_msg, /only supports auth type plugins/);
  });
});

describe('consumers and credentials', () => {
  test('a consumer is PUT on the collection by username and its credentials live under it', async () => {
    const c = await call('PUT', '/consumers', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });
    ok(c, 201);
    assert.equal(c.body.key, '/apisix/consumers/jack');
    ok(await call('PUT', '/consumers/jack', { username: 'jack', desc: 'again' }), 200);
    assert.equal((await call('PUT', '/consumers/jack', { username: 'jill' })).body.error_msg, 'wrong username');
    ok(await call('POST', '/consumers', { username: 'x' }), 405);

    const cred = await call('PUT', '/consumers/jack/credentials/c1', { plugins: { 'key-auth': { key: 'cred-key' } } });
    ok(cred, 201);
    assert.equal(cred.body.key, '/apisix/consumers/jack/credentials/c1');
    assert.equal(cred.body.value.id, 'c1');
    const list = await call('GET', '/consumers/jack/credentials');
    assert.deepEqual(list.body.list.map((e: { key: string }) => e.key), ['/apisix/consumers/jack/credentials/c1']);
    const dup = await call('PUT', '/consumers', { username: 'jill', plugins: { 'key-auth': { key: 'cred-key' } } });
    ok(dup, 400);
    assert.equal(dup.body.error_msg, 'duplicate key of plugin key-auth found with consumer: jack');
    const orphan = await call('PUT', '/consumers/nobody/credentials/c1', { plugins: {} });
    ok(orphan, 404);

    ok(await call('DELETE', '/consumers/jack'), 200);
    ok(await call('GET', '/consumers/jack/credentials/c1'), 404);
  });
});

describe('lists', () => {
  test('pages hold page_size objects in creation order and total counts them all', async () => {
    for (let i = 0; i < 23; i++) {
      ok(await call('PUT', `/routes/pg${String(i).padStart(2, '0')}`,
        { uri: `/pg/${i}`, upstream, name: i % 2 === 0 ? `even-${i}` : `odd-${i}`, ...(i < 3 ? { labels: { tier: 'gold' } } : {}) }), 201);
    }
    const page = await call('GET', '/routes?page=2&page_size=10&uri=%5E/pg/');
    ok(page, 200);
    assert.equal(page.body.total, 23);
    assert.deepEqual(page.body.list.map((e: { value: { id: string } }) => e.value.id),
      Array.from({ length: 10 }, (_, i) => `pg${String(i + 10).padStart(2, '0')}`));
    const last = await call('GET', '/routes?page=3&page_size=10&uri=%5E/pg/');
    assert.equal(last.body.list.length, 3);
  });

  test('name, label and uri filter the list', async () => {
    const names = await call('GET', '/routes?name=%5Eeven-1');
    assert.deepEqual(names.body.list.map((e: { value: { name: string } }) => e.value.name).sort(),
      ['even-10', 'even-12', 'even-14', 'even-16', 'even-18']);
    assert.equal((await call('GET', '/routes?label=tier')).body.total, 3);
    assert.equal((await call('GET', '/routes?uri=%5E/pg/2')).body.total, 4);
  });

  test('a page below 1 (or not a number) is page 1, as APISIX', async () => {
    for (const p of ['-1', '0', 'first']) {
      const r = await call('GET', `/routes?page=${p}&page_size=10&uri=%5E/pg/`);
      ok(r, 200);
      assert.equal(r.body.total, 23);
      assert.deepEqual(r.body.list.map((e: { value: { id: string } }) => e.value.id),
        Array.from({ length: 10 }, (_, i) => `pg${String(i).padStart(2, '0')}`));
    }
  });

  test('a page_size outside 10..500 is a 400', async () => {
    for (const q of ['page=1&page_size=9', 'page=1&page_size=501']) {
      const r = await call('GET', `/routes?${q}`);
      ok(r, 400);
      assert.equal(r.body.error_msg, 'page_size must be between 10 and 500');
    }
  });
});

describe('upstream nodes', () => {
  test('the map form is stored and returned as a map, the array form as an array', async () => {
    const map = { '127.0.0.1:1980': 1, '127.0.0.2:1981': 2 };
    const put = await call('PUT', '/upstreams/nodemap', { nodes: map });
    ok(put, 201);
    assert.deepEqual(put.body.value.nodes, map);
    assert.deepEqual((await call('GET', '/upstreams/nodemap')).body.value.nodes, map);
    const inRoute = await call('PUT', '/routes/nodemap', { uri: '/nodemap', upstream: { nodes: map } });
    ok(inRoute, 201);
    assert.deepEqual((await call('GET', '/routes/nodemap')).body.value.upstream.nodes, map);
    const arr = await call('PUT', '/upstreams/nodearr', { nodes: [{ host: '127.0.0.1', port: 1980, weight: 1 }] });
    assert.deepEqual(arr.body.value.nodes, [{ host: '127.0.0.1', port: 1980, weight: 1, priority: 0 }]);
    ok(await call('DELETE', '/routes/nodemap'), 200);
  });
});

describe('PATCH', () => {
  test('merges objects, replaces arrays and deletes null fields; timestamps are allowed', async () => {
    ok(await call('PUT', '/routes/pt', { uri: '/pt', methods: ['GET', 'POST'], labels: { a: '1', b: '2' }, upstream }), 201);
    const r = await call('PATCH', '/routes/pt', { methods: ['PUT'], labels: { a: null, c: '3' }, create_time: 1_700_000_000 });
    ok(r, 200);
    assert.deepEqual(r.body.value.methods, ['PUT']);
    assert.deepEqual(r.body.value.labels, { b: '2', c: '3' });
    assert.equal(r.body.value.create_time, 1_700_000_000);
    assert.deepEqual(r.body.value.upstream.nodes, upstream.nodes);
  });

  test('with a sub-path replaces that field only', async () => {
    const r = await call('PATCH', '/routes/pt/upstream/nodes', [{ host: '127.0.0.2', port: 8080, weight: 3 }]);
    ok(r, 200);
    assert.deepEqual(r.body.value.upstream.nodes, [{ host: '127.0.0.2', port: 8080, weight: 3, priority: 0 }]);
    assert.equal(r.body.value.uri, '/pt');
    const uri = await call('PATCH', '/routes/pt/uri', '/pt2');
    assert.equal(uri.body.value.uri, '/pt2');
  });

  test('a sub-path PATCH of plugins or nodes replaces the map instead of merging into it', async () => {
    ok(await call('PUT', '/routes/ptsub', {
      uri: '/ptsub', plugins: { 'request-id': {}, cors: {} }, upstream: { nodes: { '127.0.0.1:1980': 1, '127.0.0.1:1981': 1 } },
    }), 201);
    const plugins = await call('PATCH', '/routes/ptsub/plugins', { 'fault-injection': { abort: { http_status: 403 } } });
    ok(plugins, 200);
    assert.deepEqual(Object.keys(plugins.body.value.plugins), ['fault-injection']);
    const nodes = await call('PATCH', '/routes/ptsub/upstream/nodes', { '127.0.0.1:1982': 2 });
    ok(nodes, 200);
    assert.deepEqual(nodes.body.value.upstream.nodes, { '127.0.0.1:1982': 2 });
  });

  test('a merge patch drops null members of an object it adds (RFC 7396)', async () => {
    const r = await call('PATCH', '/routes/ptsub', { plugins: { 'fault-injection': null, cors: { max_age: null, allow_origins: '*' } } });
    ok(r, 200);
    assert.deepEqual(Object.keys(r.body.value.plugins), ['cors']);
    assert.equal(r.body.value.plugins.cors.allow_origins, '*');
    assert.equal(Object.hasOwn(r.body.value.plugins.cors, 'max_age') && r.body.value.plugins.cors.max_age === null, false);
    ok(await call('DELETE', '/routes/ptsub'), 200);
  });

  test('refuses a result that does not validate, and forbids timestamps in PUT', async () => {
    const r = await call('PATCH', '/routes/pt', { uri: 42 });
    ok(r, 400);
    assert.match(r.body.error_msg, /property "uri" validation failed/);
    const put = await call('PUT', '/routes/pt', { uri: '/x', upstream, update_time: 1 });
    assert.deepEqual([put.status, put.body.error_msg], [400, 'the property is forbidden:  update_time']);
    ok(await call('PATCH', '/routes/missing', { uri: '/x' }), 404);
  });
});

describe('global rules', () => {
  test('a plugin already in another global rule is refused on PUT and PATCH, naming the plugin and the rule', async () => {
    ok(await call('PUT', '/global_rules/gdup1', { plugins: { 'request-id': {} } }), 201);
    const put = await call('PUT', '/global_rules/gdup2', { plugins: { cors: {}, 'request-id': {} } });
    ok(put, 400);
    assert.match(put.body.error_msg, /plugin request-id is already configured in global rule \[gdup1\]/);
    ok(await call('GET', '/global_rules/gdup2'), 404);
    ok(await call('PUT', '/global_rules/gdup2', { plugins: { cors: {} } }), 201);
    const patch = await call('PATCH', '/global_rules/gdup2', { plugins: { 'request-id': {} } });
    ok(patch, 400);
    assert.match(patch.body.error_msg, /request-id.*\[gdup1\]/);
    // rewriting the rule that holds it is fine
    ok(await call('PUT', '/global_rules/gdup1', { plugins: { 'request-id': { header_name: 'x-rid' } } }), 200);
    ok(await call('DELETE', '/global_rules/gdup1'), 200);
    ok(await call('DELETE', '/global_rules/gdup2'), 200);
  });
});

describe('references', () => {
  test('a write naming a missing object is refused with APISIX messages', async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['/routes/ref', { uri: '/r', upstream_id: '99' }, 'failed to fetch upstream info by upstream id [99], response code: 404'],
      ['/routes/ref', { uri: '/r', service_id: 's99' }, 'failed to fetch service info by service id [s99], response code: 404'],
      ['/routes/ref', { uri: '/r', upstream, plugin_config_id: 'pc9' },
        'failed to fetch plugin config info by plugin config id [pc9], response code: 404'],
      ['/services/ref', { upstream_id: '99' }, 'failed to fetch upstream info by upstream id [99], response code: 404'],
      ['/consumers/ref', { username: 'ref', group_id: 'g9' },
        'failed to fetch consumer group info by consumer group id [g9], response code: 404'],
    ];
    for (const [path, body, msg] of cases) {
      const r = await call('PUT', path, body);
      assert.deepEqual([r.status, r.body.error_msg], [400, msg], path);
    }
  });

  test('an object in use cannot be deleted unless forced', async () => {
    ok(await call('PUT', '/upstreams/used', upstream), 201);
    ok(await call('PUT', '/services/used', { upstream_id: 'used' }), 201);
    ok(await call('PUT', '/plugin_configs/used', { plugins: {} }), 201);
    ok(await call('PUT', '/routes/user', { uri: '/user', service_id: 'used', plugin_config_id: 'used' }), 201);
    ok(await call('PUT', '/consumer_groups/used', { plugins: {} }), 201);
    ok(await call('PUT', '/consumers/member', { username: 'member', group_id: 'used' }), 201);
    const refusals: [string, string][] = [
      ['/upstreams/used', 'can not delete this upstream, service [used] is still using it now'],
      ['/services/used', 'can not delete this service directly, route [user] is still using it now'],
      ['/plugin_configs/used', 'can not delete this plugin config, route [user] is still using it now'],
      ['/consumer_groups/used', 'can not delete this consumer group, consumer [member] is still using it now'],
    ];
    for (const [path, msg] of refusals) {
      const r = await call('DELETE', path);
      assert.deepEqual([r.status, r.body.error_msg], [400, msg], path);
    }
    ok(await call('DELETE', '/routes/user'), 200);
    ok(await call('DELETE', '/services/used'), 200);
    ok(await call('DELETE', '/plugin_configs/used'), 200);
    ok(await call('PUT', '/routes/user2', { uri: '/user2', upstream_id: 'used' }), 201);
    ok(await call('DELETE', '/upstreams/used?force=true'), 200);
    ok(await call('DELETE', '/consumer_groups/used?force=true'), 200);
  });
});

describe('ssls', () => {
  const cert = makeCert(['api.test', '*.api.test']);
  const other = makeCert(['other.test']);

  test('private keys are never returned, in any answer', async () => {
    const put = await call('PUT', '/ssls/s1', { cert: cert.cert, key: cert.key, snis: ['api.test'] });
    ok(put, 201);
    const patched = await call('PATCH', '/ssls/s1', { snis: ['api.test', 'www.api.test'] });
    ok(patched, 200);
    const got = await call('GET', '/ssls/s1');
    const list = await call('GET', '/ssls');
    for (const r of [put, patched, got, list]) {
      assert.ok(!r.text.includes('PRIVATE KEY'), r.text.slice(0, 200));
    }
    assert.equal(got.body.value.cert, cert.cert);
    assert.deepEqual(got.body.value.snis, ['api.test', 'www.api.test']);
    assert.equal(got.body.value.key, undefined);
  });

  test('a key that does not belong to the certificate is refused', async () => {
    const r = await call('PUT', '/ssls/s2', { cert: cert.cert, key: other.key, snis: ['api.test'] });
    assert.deepEqual([r.status, r.body.error_msg], [400, 'the private key does not match the certificate']);
    const bad = await call('PUT', '/ssls/s2', { cert: 'x'.repeat(200), key: other.key, snis: ['api.test'] });
    ok(bad, 400);
    assert.match(bad.body.error_msg, /^failed to parse cert/);
  });

  test('an expired certificate is refused unless forced', async () => {
    const expired = makeExpiredCert('old.test');
    const r = await call('PUT', '/ssls/old', { ...expired, snis: ['old.test'] });
    ok(r, 400);
    assert.match(r.body.error_msg, /^the certificate expired on \d{4}-/);
    ok(await call('PUT', '/ssls/old?force=true', { ...expired, snis: ['old.test'] }), 201);
  });
});

describe('schema', () => {
  test('validate is a dry run: 200 for a valid body, 400 with the message otherwise', async () => {
    const good = await call('POST', '/schema/validate/routes', { uri: '/v', upstream });
    ok(good, 200);
    const bad = await call('POST', '/schema/validate/routes', { uri: '/v' });
    ok(bad, 400);
    assert.equal(typeof bad.body.error_msg, 'string');
    ok(await call('GET', '/routes/validate'), 404);
    ok(await call('POST', '/schema/validate/nope', {}), 400);
    const schema = await call('GET', '/schema/routes');
    ok(schema, 200);
    assert.equal(schema.body.type, 'object');
  });
});
