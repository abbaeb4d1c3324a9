import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deletePath, getPath, parseJsonPath, setPath } from './json-path.js';
import { QueryStore } from './query-store.js';
import { applyRules, compileRules, type RuleConf, type Store } from './transform-rules.js';

const facts = { host: 'foo.bar.com', path: '/get?x=1' };

function jsonStore(root: { doc: unknown }): Store {
  return {
    get: (k) => getPath(root.doc, k as never),
    set: (k, v) => { setPath(root.doc, k as never, v); },
    delete: (k) => deletePath(root.doc, k as never),
    values: (k) => { const v = getPath(root.doc, k as never); return v === undefined ? [] : Array.isArray(v) ? v : [v]; },
  };
}

test('JSON paths: dotted keys, escaped dots, array indexes; GJSON extras refused naming the field', () => {
  const doc = { name: { first: 'Tom' }, 'fav.movie': 'Deer Hunter', friends: [{ first: 'Dale' }, { first: 'Roger' }] };
  assert.equal(getPath(doc, parseJsonPath('name.first', 'f')), 'Tom');
  assert.equal(getPath(doc, parseJsonPath('fav\\.movie', 'f')), 'Deer Hunter');
  assert.equal(getPath(doc, parseJsonPath('friends.1.first', 'f')), 'Roger');
  assert.equal(getPath(doc, parseJsonPath('friends.x', 'f')), undefined);
  assert.throws(() => parseJsonPath('friends.#.first', 'body[0].key'), /body\[0\]\.key: .*"#"/);
  assert.throws(() => parseJsonPath('a..b', 'body[0].key'), /empty key/);
  assert.equal(setPath(doc, parseJsonPath('new.deep.key', 'f'), 1), true);
  assert.deepEqual((doc as Record<string, unknown>).new, { deep: { key: 1 } });
  assert.equal(setPath(doc, parseJsonPath('name.first.x', 'f'), 1), false, 'a scalar on the way');
  deletePath(doc, parseJsonPath('friends.0', 'f'));
  assert.deepEqual(doc.friends, [{ first: 'Roger' }]);
});

test('query store: untouched arguments keep their bytes, written ones are encoded', () => {
  const q = new QueryStore('/p?a=1&b=x%2Fy&a=2&c');
  assert.deepEqual(q.get('a'), ['1', '2']);
  assert.equal(q.get('c'), '');
  q.set('a', 'v w');
  q.delete('c');
  assert.equal(q.uri(), '/p?a=v%20w&b=x%2Fy');
  assert.equal(new QueryStore('/p').uri(), '/p');
});

test('rules run in the order written; dedupe strategies; value types; conditions with groups', () => {
  const rules: RuleConf[] = [
    { operate: 'append', body: [{ key: 'tags', appendValue: 'b' }, { key: 'tags', appendValue: 'a' }] },
    { operate: 'dedupe', body: [{ key: 'tags', strategy: 'RETAIN_UNIQUE' }, { key: 'csv', strategy: 'SPLIT_AND_RETAIN_LAST' }] },
    { operate: 'add', body: [{ key: 'n', value: '5', value_type: 'number' }, { key: 'h', value: '$1', host_pattern: '^(\\w+)\\.' }] },
    // Go's ReplaceAllString over the subject: every match replaced, the rest kept
    { operate: 'add', body: [{ key: 'every', value: '<$1>', path_pattern: '(\\w)' }, { key: 'huge', value: 'x'.repeat(4096), path_pattern: 'z*' }] },
    { operate: 'add', body: [{ key: 'skipped', value: 'x', path_pattern: '^/post' }] },
    { operate: 'remove', body: [{ key: 'n' }] },
  ];
  const root = { doc: { tags: 'a', csv: 'x, y, z' } as unknown };
  applyRules(compileRules(rules, 'reqRules', ['headers', 'querys', 'body']), { body: jsonStore(root) }, facts);
  assert.deepEqual(root.doc, { tags: ['a', 'b'], csv: 'z', h: 'foobar.com', every: '/<g><e><t>?<x>=<1>' });
});

test('compile errors name the field', () => {
  const compile = (rules: unknown[]): unknown => compileRules(rules as RuleConf[], 'reqRules', ['headers', 'querys', 'body']);
  assert.throws(() => compile([{ operate: 'map', headers: [{ fromKey: 'a' }] }]), /reqRules\[0\]\.headers\[0\]\.toKey: required by operate map/);
  assert.throws(() => compile([{ operate: 'dedupe', querys: [{ key: 'a', value: 'x' }] }]), /reqRules\[0\]\.querys\[0\]\.value: not used/);
  assert.throws(() => compile([{ operate: 'add', body: [{ key: 'a', value: 'yes', value_type: 'boolean' }] }]), /body\[0\]\.value: not a boolean/);
  assert.throws(() => compileRules([{ operate: 'remove', querys: [{ key: 'a' }] }], 'respRules', ['headers', 'body']), /respRules\[0\]\.querys/);
});

test('as Higress\'s code: rename onto a present argument keeps both; replace leaves an absent key absent', () => {
  const q = new QueryStore('/p?old=1&new=0');
  const rules = compileRules([
    { operate: 'rename', querys: [{ oldKey: 'old', newKey: 'new' }] },
    { operate: 'replace', querys: [{ key: 'absent', newValue: 'x' }] },
  ], 'reqRules', ['headers', 'querys', 'body']);
  applyRules(rules, { querys: q }, facts);
  assert.equal(q.uri(), '/p?new=0&new=1');
});
