import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestTarget } from './request-target.js';

test('a plain path is returned as is with its query', () => {
  assert.deepEqual(parseRequestTarget('/a/b?x=1'), { path: '/a/b', query: 'x=1' });
  assert.deepEqual(parseRequestTarget('/'), { path: '/', query: '' });
});

test('percent-encoding is decoded and dot segments are resolved', () => {
  assert.deepEqual(parseRequestTarget('/a%20b/./c/../d'), { path: '/a b/d', query: '' });
  assert.deepEqual(parseRequestTarget('//a///b/'), { path: '/a/b/', query: '' });
});

test('absolute-form targets keep only the path and query', () => {
  assert.deepEqual(parseRequestTarget('http://example.com/x?y'), { path: '/x', query: 'y' });
  assert.deepEqual(parseRequestTarget('http://example.com'), { path: '/', query: '' });
});

test('malformed targets are refused', () => {
  assert.equal(parseRequestTarget('abc'), undefined);
  assert.equal(parseRequestTarget('/%zz'), undefined);
  assert.equal(parseRequestTarget('/a/%00'), undefined);
  assert.equal(parseRequestTarget('/../etc/passwd'), undefined);
  assert.equal(parseRequestTarget(''), undefined);
});
