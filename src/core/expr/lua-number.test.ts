import { test } from 'node:test';
import assert from 'node:assert/strict';
import { luaToNumber } from './lua-number.js';

test('decimal strings convert, with surrounding ASCII whitespace allowed', () => {
  assert.equal(luaToNumber('10'), 10);
  assert.equal(luaToNumber('-2.5'), -2.5);
  assert.equal(luaToNumber('+3'), 3);
  assert.equal(luaToNumber('.5'), 0.5);
  assert.equal(luaToNumber('5.'), 5);
  assert.equal(luaToNumber('1e3'), 1000);
  assert.equal(luaToNumber('1E-2'), 0.01);
  assert.equal(luaToNumber(' \t42\n'), 42);
});

test('hex integers convert with their sign', () => {
  assert.equal(luaToNumber('0x1F'), 31);
  assert.equal(luaToNumber('-0x10'), -16);
  assert.equal(luaToNumber(' 0XfF '), 255);
});

test('inf and nan are numbers, as LuaJIT reads them', () => {
  assert.equal(luaToNumber('inf'), Infinity);
  assert.equal(luaToNumber('-Infinity'), -Infinity);
  assert.ok(Number.isNaN(luaToNumber('nan')));
});

test('numbers pass through and everything else is nil', () => {
  assert.equal(luaToNumber(7), 7);
  for (const v of ['', ' ', 'abc', '10abc', '1 2', '0b11', '0o7', '1_000', '\u00a01', '--1', '0x', 'e5', undefined, null, true, [1], {}]) {
    assert.equal(luaToNumber(v), undefined, String(v));
  }
});
