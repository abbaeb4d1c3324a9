import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonPathLite, visitEveryString, visitStrings } from './json-path-lite.js';

test('names, indexes, wildcards select strings, which may be replaced', () => {
  const doc = { messages: [{ content: 'a' }, { content: 'b' }, { content: 3 }], 'x-y': { k: 'v' } };
  const seen: string[] = [];
  visitStrings(doc, parseJsonPathLite('$.messages[*].content', 'f'), (s) => { seen.push(s); return s.toUpperCase(); });
  assert.deepEqual(seen, ['a', 'b']);
  assert.deepEqual(doc.messages, [{ content: 'A' }, { content: 'B' }, { content: 3 }]);
  const last: string[] = [];
  visitStrings(doc, parseJsonPathLite("$['messages'][-2].content", 'f'), (s) => { last.push(s); return undefined; });
  assert.deepEqual(last, ['B']);
  const star: string[] = [];
  visitStrings(doc, parseJsonPathLite('$.x-y.*', 'f'), (s) => { star.push(s); return undefined; });
  assert.deepEqual(star, ['v']);
  assert.equal(visitStrings(doc, parseJsonPathLite('$.messages[0].content', 'f'), () => false), false);
});

test('what the subset does not cover is refused naming the field', () => {
  for (const bad of ['$..content', '$.a[?(@.b)]', '$.a[0:2]', '$.a[0,1]', 'messages', '$.a[']) {
    assert.throws(() => parseJsonPathLite(bad, 'deny_jsonpath[0]'), /deny_jsonpath\[0\]/, bad);
  }
});

test('every string of a document, however deep, keys excepted', () => {
  let deep: unknown = 'leaf';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const doc = { k: 'a', n: [1, 'b', { c: 'c' }], deep };
  const seen: string[] = [];
  assert.equal(visitEveryString(doc, (s) => { seen.push(s); return s.toUpperCase(); }), true);
  assert.deepEqual(seen.sort(), ['a', 'b', 'c', 'leaf']);
  assert.deepEqual(doc.n, [1, 'B', { c: 'C' }]);
  assert.equal(visitEveryString(doc, () => false), false);
});
