import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResourceKind } from '../contracts/resources.js';
import type { StoredObject } from '../contracts/store.js';
import { envelope, keyOf, listEnvelope, parseListQuery } from './envelope.js';
import { AdminError } from './errors.js';

const obj = (kind: ResourceKind, id: string, created: number, value: Record<string, unknown>): StoredObject =>
  ({ kind, id, value: { id, ...value }, createdIndex: created, modifiedIndex: created });

describe('envelopes', () => {
  it('names objects with APISIX etcd-style keys, credentials under their consumer', () => {
    assert.equal(keyOf('routes', '1'), '/apisix/routes/1');
    assert.equal(keyOf('plugin_metadata', 'http-logger'), '/apisix/plugin_metadata/http-logger');
    assert.equal(keyOf('credentials', 'jack/c1'), '/apisix/consumers/jack/credentials/c1');
  });

  it('wraps an object with its indexes and the presented value', () => {
    const e = envelope(obj('ssls', 's', 3, { cert: 'c', key: 'k' }), ({ key: _k, ...rest }) => rest);
    assert.deepEqual(e, { key: '/apisix/ssls/s', value: { id: 's', cert: 'c' }, createdIndex: 3, modifiedIndex: 3 });
  });
});

describe('lists', () => {
  const routes = [
    obj('routes', 'b', 2, { uri: '/api/b', name: 'beta', labels: { env: 'prod' } }),
    obj('routes', 'a', 1, { uris: ['/x', '/api/a'], name: 'alpha' }),
    obj('routes', 'c', 3, { uri: '/c', service_id: 's1' }),
  ];

  it('sorts by creation and counts every object without a query', () => {
    const out = listEnvelope(routes, parseListQuery(new URLSearchParams()));
    assert.equal(out.total, 3);
    assert.deepEqual(out.list.map((e) => e.value.id), ['a', 'b', 'c']);
  });

  it('filters by name regex, label key, uri regex over uri and uris, and whitelisted fields', () => {
    const ids = (q: string): unknown[] => listEnvelope(routes, parseListQuery(new URLSearchParams(q))).list.map((e) => e.value.id);
    assert.deepEqual(ids('name=^al'), ['a']);
    assert.deepEqual(ids('label=env'), ['b']);
    assert.deepEqual(ids('uri=^/api/'), ['a', 'b']);
    assert.deepEqual(ids('uri=/api&name=beta'), ['b']);
    assert.deepEqual(ids(`filter=${encodeURIComponent('service_id=s1')}`), ['c']);
  });

  it('cuts pages after filtering, with total counting the filtered objects', () => {
    const many = Array.from({ length: 25 }, (_, i) => obj('routes', `r${i}`, i + 1, { uri: `/${i}` }));
    const page3 = listEnvelope(many, parseListQuery(new URLSearchParams('page=3&page_size=10')));
    assert.equal(page3.total, 25);
    assert.deepEqual(page3.list.map((e) => e.value.id), ['r20', 'r21', 'r22', 'r23', 'r24']);
    assert.equal(listEnvelope(many, parseListQuery(new URLSearchParams('page=9&page_size=10'))).list.length, 0);
  });

  it('reads a page below 1, not a number or empty as page 1, and rounds a fractional page down', () => {
    const many = Array.from({ length: 25 }, (_, i) => obj('routes', `r${String(i).padStart(2, '0')}`, i + 1, {}));
    for (const p of ['-1', '0', 'x', '', '-2.5']) {
      const q = parseListQuery(new URLSearchParams(`page=${p}&page_size=10`));
      assert.equal(q.page, 1, `page=${p}`);
      assert.deepEqual(listEnvelope(many, q).list.map((e) => e.value.id)[0], 'r00');
    }
    assert.equal(parseListQuery(new URLSearchParams('page=2.7&page_size=10')).page, 2);
  });

  it('refuses page sizes outside 10..500 naming page_size and the range', () => {
    for (const q of ['page=1&page_size=9', 'page_size=501', 'page_size=x', 'page=1&page_size=10.5', 'page=-1&page_size=0']) {
      assert.throws(() => parseListQuery(new URLSearchParams(q)),
        (e: unknown) => e instanceof AdminError && e.status === 400 && e.message === 'page_size must be between 10 and 500', q);
    }
  });

  it('refuses bad regexes and filters with a 400', () => {
    for (const q of ['name=(', 'filter=desc%3Dx']) {
      assert.throws(() => parseListQuery(new URLSearchParams(q)), (e: unknown) => e instanceof AdminError && e.status === 400, q);
    }
  });

  // The filters are a query string anyone with a viewer key can send: a backtracking
  // engine would let one request stall the Admin API.
  it('runs the uri and name filters in linear time', { timeout: 20000 }, () => {
    const evil = 'a'.repeat(40) + '!';
    const objs = [obj('routes', 'a', 1, { uri: `/${evil}`, name: evil })];
    assert.equal(listEnvelope(objs, parseListQuery(new URLSearchParams({ uri: '^/(a+)+$' }))).total, 0);
    assert.equal(listEnvelope(objs, parseListQuery(new URLSearchParams({ name: '^(a|aa)+$' }))).total, 0);
  });

  it('refuses a filter the linear-time engine cannot run, naming the filter', () => {
    assert.throws(() => parseListQuery(new URLSearchParams({ uri: '(a)\\1' })),
      (e: unknown) => e instanceof AdminError && e.status === 400 && /invalid uri filter: back references/.test(e.message));
    assert.throws(() => parseListQuery(new URLSearchParams({ name: '(?=a)' })),
      (e: unknown) => e instanceof AdminError && e.status === 400 && /invalid name filter/.test(e.message));
  });
});
