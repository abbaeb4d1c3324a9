import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ResourceKind } from '../contracts/resources.js';
import type { ConfigStore, PutOptions } from '../contracts/store.js';
import { GatehouseError } from '../core/errors.js';
import { SqliteStore } from '../config-store/sqlite-store.js';
import { AdminError, toAdminError } from './errors.js';
import { ResourceApi, type ResourceRequest, type ResourceResponse } from './resource.js';
import { credentials, RESOURCES } from './resources/index.js';

type Obj = Record<string, unknown>;

let dir: string;
let store: SqliteStore;
let clock = 1_000;
let api: ResourceApi;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-resource-'));
  store = new SqliteStore(join(dir, 'db.sqlite'));
  api = new ResourceApi(store, { now: () => clock });
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function call(path: string, method: string, body?: unknown, query = ''): Promise<ResourceResponse> {
  const [first, ...rest] = path.split('/');
  const q = new URLSearchParams(query);
  if (first === 'consumers' && rest[1] === 'credentials') {
    const [parent, , id] = rest;
    return api.handle(credentials, { method, parent: parent!, query: q, body, ...(id !== undefined ? { id } : {}) });
  }
  const [id, ...subPath] = rest;
  const req: ResourceRequest = { method, query: q, body, ...(id !== undefined ? { id, subPath } : {}) };
  return api.handle(RESOURCES[first!]!, req);
}

/** The status and error_msg a call fails with. */
async function failure(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
  } catch (e) {
    const a = toAdminError(e);
    return [a.status, a.message];
  }
  throw new Error('expected the call to fail');
}

const value = (r: ResourceResponse): Obj => (r.body as { value: Obj }).value;
const upstream = { nodes: { '127.0.0.1:1980': 1 } };

describe('resource writes', () => {
  it('creates with PUT (201), replaces with PUT (200) and keeps create_time', async () => {
    clock = 1_000;
    const created = await call('upstreams/u1', 'PUT', upstream);
    assert.equal(created.status, 201);
    assert.equal((created.body as { key: string }).key, '/apisix/upstreams/u1');
    assert.equal(value(created).create_time, 1_000);
    clock = 2_000;
    const replaced = await call('upstreams/u1', 'PUT', { ...upstream, name: 'again' });
    assert.equal(replaced.status, 200);
    assert.deepEqual([value(replaced).create_time, value(replaced).update_time, value(replaced).name], [1_000, 2_000, 'again']);
    assert.equal(value(replaced).type, 'roundrobin', 'the stored value is the normalised one');
  });

  it('refuses server-owned timestamps and mismatched ids in PUT and POST bodies', async () => {
    assert.deepEqual(await failure(call('upstreams/u2', 'PUT', { ...upstream, create_time: 1 })),
      [400, 'the property is forbidden:  create_time']);
    assert.deepEqual(await failure(call('upstreams/u2', 'PUT', { ...upstream, id: 'other' })), [400, 'wrong upstream id']);
    assert.deepEqual(await failure(call('upstreams', 'POST', { ...upstream, id: 'x' })),
      [400, 'wrong upstream id, do not need it']);
    assert.deepEqual(await failure(call('upstreams', 'PUT', upstream)), [400, 'missing upstream id']);
    assert.deepEqual(await failure(call('upstreams/u2', 'PUT', undefined)), [400, 'missing configurations']);
  });

  it('accepts a numeric body id equal to the path id and stores it as a string', async () => {
    const r = await call('upstreams/7', 'PUT', { ...upstream, id: 7 });
    assert.equal(value(r).id, '7');
  });

  it('generates a 20-digit id on POST', async () => {
    const r = await call('routes', 'POST', { uri: '/posted', upstream_id: 'u1' });
    assert.equal(r.status, 201);
    assert.match(String(value(r).id), /^\d{20}$/);
  });

  it('checks references on write with APISIX messages', async () => {
    assert.deepEqual(await failure(call('routes/r1', 'PUT', { uri: '/a', upstream_id: '99' })),
      [400, 'failed to fetch upstream info by upstream id [99], response code: 404']);
    assert.deepEqual(await failure(call('routes/r1', 'PUT', { uri: '/a', service_id: 's9' })),
      [400, 'failed to fetch service info by service id [s9], response code: 404']);
  });
});

describe('resource PATCH', () => {
  it('merges recursively, refreshes update_time unless given, and keeps the rest', async () => {
    clock = 3_000;
    await call('routes/p1', 'PUT', { uri: '/p', upstream_id: 'u1', labels: { a: '1', b: '2' } });
    clock = 4_000;
    const r = await call('routes/p1', 'PATCH', { labels: { b: null, c: '3' }, methods: ['GET'] });
    assert.deepEqual(value(r).labels, { a: '1', c: '3' });
    assert.deepEqual([value(r).create_time, value(r).update_time], [3_000, 4_000]);
    const given = await call('routes/p1', 'PATCH', { update_time: 5, create_time: 4 });
    assert.deepEqual([value(given).create_time, value(given).update_time], [4, 5]);
  });

  it('replaces a sub-field addressed by the path', async () => {
    const r = await call('routes/p1/methods', 'PATCH', ['POST', 'PUT']);
    assert.deepEqual(value(r).methods, ['POST', 'PUT']);
    assert.equal(value(r).uri, '/p');
  });

  it('validates the merged result and answers 404 for a missing object', async () => {
    const [status, msg] = await failure(call('routes/p1', 'PATCH', { uri: 5 }));
    assert.equal(status, 400);
    assert.match(msg, /property "uri" validation failed/);
    assert.deepEqual(await failure(call('routes/nope', 'PATCH', { uri: '/x' })), [404, 'Key not found']);
    assert.deepEqual(await failure(call('routes/p1', 'PATCH', { id: 'p2' })), [400, 'wrong route id']);
  });

  it('is refused with 405 where APISIX has no PATCH', async () => {
    assert.deepEqual(await failure(call('consumers/jack', 'PATCH', {})), [405, 'not supported `PATCH` method for consumer']);
    assert.deepEqual(await failure(call('plugin_metadata/x', 'PATCH', {})),
      [405, 'not supported `PATCH` method for plugin_metadata']);
  });
});

describe('resource deletes', () => {
  it('refuses to delete an object in use unless forced', async () => {
    await call('upstreams/used', 'PUT', upstream);
    await call('routes/user', 'PUT', { uri: '/u', upstream_id: 'used' });
    assert.deepEqual(await failure(call('upstreams/used', 'DELETE')),
      [400, 'can not delete this upstream, route [user] is still using it now']);
    const forced = await call('upstreams/used', 'DELETE', undefined, 'force=true');
    assert.deepEqual(forced.body, { key: '/apisix/upstreams/used', deleted: '1' });
    assert.deepEqual(await failure(call('upstreams/used', 'DELETE')), [404, 'Key not found']);
  });

  it('deletes a consumer together with its credentials', async () => {
    assert.equal((await call('consumers', 'PUT', { username: 'jack' })).status, 201);
    assert.deepEqual(await failure(call('consumers/jack', 'PUT', { username: 'jill' })), [400, 'wrong username']);
    await call('consumers/jack/credentials/c1', 'PUT', { plugins: { 'key-auth': { key: 'k1' } } });
    assert.ok(await store.get('credentials', 'jack/c1'));
    await call('consumers/jack', 'DELETE');
    assert.equal(await store.get('credentials', 'jack/c1'), undefined);
    assert.deepEqual(await failure(call('consumers/jack/credentials/c1', 'PUT', { plugins: {} })), [404, 'consumer not found']);
  });
});

describe('compare-and-swap', () => {
  /** A store whose first `failures` puts fail as if another process had written first. */
  function racingStore(failures: number): ConfigStore {
    let left = failures;
    return new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'put') {
          return (kind: ResourceKind, id: string, v: Obj, opts?: PutOptions) => {
            if (left-- > 0) return Promise.reject(new GatehouseError('GH_ERR_STORE_CONFLICT'));
            return target.put(kind, id, v, opts);
          };
        }
        const p = Reflect.get(target, prop, receiver) as unknown;
        return typeof p === 'function' ? (p as (...a: unknown[]) => unknown).bind(target) : p;
      },
    });
  }

  it('retries a conflicting write from a fresh read', async () => {
    const racing = new ResourceApi(racingStore(2));
    const r = await racing.handle(RESOURCES.upstreams!, { method: 'PATCH', id: 'u1', query: new URLSearchParams(), body: { desc: 'cas' } });
    assert.equal(r.status, 200);
    assert.equal(value(r).desc, 'cas');
  });

  it('answers 409 when conflicts persist', async () => {
    const racing = new ResourceApi(racingStore(100));
    const [status] = await failure(racing.handle(RESOURCES.upstreams!,
      { method: 'PUT', id: 'u1', query: new URLSearchParams(), body: upstream }));
    assert.equal(status, 409);
  });

  it('maps unexpected errors to 500 and validation errors to 400', () => {
    assert.equal(toAdminError(new Error('boom')).status, 500);
    assert.equal(toAdminError(new GatehouseError('GH_ERR_CONFIG_INVALID', 'bad')).status, 400);
    assert.equal(toAdminError(new AdminError(413, 'big')).status, 413);
  });
});

describe('viewer reads', () => {
  it('mask every plugin of a consumer when no redactor knows the secret fields; admins read it as stored', async () => {
    await call('consumers', 'PUT', { username: 'masked', plugins: { 'key-auth': { key: 'clear-key' } } });
    const q = new URLSearchParams();
    const asViewer = await api.handle(RESOURCES.consumers!, { method: 'GET', id: 'masked', query: q, body: undefined, viewer: true });
    assert.deepEqual(value(asViewer).plugins, { 'key-auth': '******' });
    const list = await api.handle(RESOURCES.consumers!, { method: 'GET', query: q, body: undefined, viewer: true });
    assert.doesNotMatch(JSON.stringify(list.body), /clear-key/);
    const asAdmin = await api.handle(RESOURCES.consumers!, { method: 'GET', id: 'masked', query: q, body: undefined });
    assert.deepEqual(value(asAdmin).plugins, { 'key-auth': { key: 'clear-key' } });
  });

  it('use the redactor given for every resource with plugins', async () => {
    const seen: string[] = [];
    const redacting = new ResourceApi(store, { redactPlugins: (p, t) => { seen.push(t); return { ...p, hidden: true }; } });
    await call('routes/masked', 'PUT', { uri: '/masked', upstream, plugins: { 'request-id': {} } });
    const r = await redacting.handle(RESOURCES.routes!, { method: 'GET', id: 'masked', query: new URLSearchParams(), body: undefined, viewer: true });
    assert.equal((value(r).plugins as Obj).hidden, true);
    await redacting.handle(RESOURCES.consumers!, { method: 'GET', id: 'masked', query: new URLSearchParams(), body: undefined, viewer: true });
    assert.deepEqual(seen, ['default', 'consumer']);
  });

  it('mask plugin metadata by the redactor (the plugin\'s metadata schema), or whole when there is none', async () => {
    await call('plugin_metadata/http-logger', 'PUT', { log_format: { host: '$host' } });
    const seen: string[] = [];
    const redacting = new ResourceApi(store, { redactPlugins: (p, t) => { seen.push(t); return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, { ...(v as Obj), log_format: 'masked' }])); } });
    const r = await redacting.handle(RESOURCES.plugin_metadata!, { method: 'GET', id: 'http-logger', query: new URLSearchParams(), body: undefined, viewer: true });
    assert.equal(value(r).log_format, 'masked');
    assert.deepEqual(seen, ['metadata']);
    const plain = await api.handle(RESOURCES.plugin_metadata!, { method: 'GET', id: 'http-logger', query: new URLSearchParams(), body: undefined, viewer: true });
    assert.deepEqual(value(plain), { id: 'http-logger', value: '******' });
    const asAdmin = await api.handle(RESOURCES.plugin_metadata!, { method: 'GET', id: 'http-logger', query: new URLSearchParams(), body: undefined });
    assert.deepEqual(value(asAdmin).log_format, { host: '$host' });
  });
});
