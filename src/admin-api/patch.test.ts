import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdminError } from './errors.js';
import { mergePatch, patchSubPath } from './patch.js';

describe('mergePatch', () => {
  it('merges objects recursively, replaces arrays and scalars, and deletes keys set to null', () => {
    const base = { a: 1, b: { c: 2, d: [1, 2] }, e: 'x', f: { g: 1 } };
    const out = mergePatch(base, { a: 2, b: { d: [3] }, e: null, f: 'flat', h: { i: 1 } });
    assert.deepEqual(out, { a: 2, b: { c: 2, d: [3] }, f: 'flat', h: { i: 1 } });
  });

  it('drops null members of a patch object that replaces a missing or non-object value (RFC 7396)', () => {
    assert.deepEqual(mergePatch({ a: 'flat' }, { a: { b: null, c: 1 }, d: { e: { f: null } } }), { a: { c: 1 }, d: { e: {} } });
    assert.deepEqual(mergePatch({}, { plugins: { cors: { max_age: null, allow_origins: '*' } } }),
      { plugins: { cors: { allow_origins: '*' } } });
  });

  it('leaves both inputs untouched', () => {
    const base = { b: { c: 2 } };
    const patch = { b: { d: 3 } };
    mergePatch(base, patch);
    assert.deepEqual(base, { b: { c: 2 } });
    assert.deepEqual(patch, { b: { d: 3 } });
  });

  it('keeps a __proto__ key as plain data instead of changing the prototype', () => {
    const out = mergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.ok(Object.hasOwn(out, '__proto__'));
  });
});

describe('patchSubPath', () => {
  it('replaces the addressed field wholesale', () => {
    const base = { upstream: { nodes: { 'a:1': 1 }, type: 'roundrobin' } };
    const out = patchSubPath(base, ['upstream', 'nodes'], [{ host: 'b', port: 2, weight: 1 }]);
    assert.deepEqual(out, { upstream: { nodes: [{ host: 'b', port: 2, weight: 1 }], type: 'roundrobin' } });
    assert.deepEqual(base.upstream.nodes, { 'a:1': 1 });
  });

  it('replaces an object at the sub-path instead of merging into it', () => {
    const base = { plugins: { cors: {}, 'key-auth': {} }, uri: '/a' };
    assert.deepEqual(patchSubPath(base, ['plugins'], { 'limit-count': { count: 1 } }),
      { plugins: { 'limit-count': { count: 1 } }, uri: '/a' });
  });

  it('creates missing objects on the way and addresses array elements by 0-based index', () => {
    assert.deepEqual(patchSubPath({}, ['labels', 'env'], 'prod'), { labels: { env: 'prod' } });
    assert.deepEqual(patchSubPath({ uris: ['/a', '/b'] }, ['uris', '1'], '/c'), { uris: ['/a', '/c'] });
  });

  it('removes the field when the value is null', () => {
    assert.deepEqual(patchSubPath({ a: 1, b: 2 }, ['b'], null), { a: 1 });
  });

  it('refuses a path through a scalar, past the end of an array, or through __proto__', () => {
    assert.throws(() => patchSubPath({ a: 1 }, ['a', 'b'], 1), (e: unknown) => e instanceof AdminError && e.status === 400);
    assert.throws(() => patchSubPath({ a: [1] }, ['a', '5'], 1), AdminError);
    assert.throws(() => patchSubPath({ a: [1] }, ['a', 'x', 'y'], 1), AdminError);
    assert.throws(() => patchSubPath({}, ['__proto__', 'x'], 1), AdminError);
  });
});
