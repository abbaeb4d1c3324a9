import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileNgxRegex, compileNgxTemplate } from './ngx-regex.js';

test('sub replaces the first match, gsub all, with $N and ${N} captures', () => {
  const re = compileNgxRegex('^/iresty/(.*)/(.*)', 'jo');
  assert.deepEqual(re.replace('/iresty/hello/world', compileNgxTemplate('/$1-$2'), false), { result: '/hello-world', count: 1 });
  const o = compileNgxRegex('o', 'jo');
  assert.equal(o.replace('foo boo', compileNgxTemplate('0'), false).result, 'f0o boo');
  assert.deepEqual(o.replace('foo boo', compileNgxTemplate('0'), true), { result: 'f00 b00', count: 4 });
  assert.equal(compileNgxRegex('(b)(o+)').replace('boo', compileNgxTemplate('${2}${1}$0$$'), false).result, 'oobboo$');
});

test('no match leaves the subject and counts zero', () => {
  assert.deepEqual(compileNgxRegex('^/x').replace('/y', compileNgxTemplate('/z'), false), { result: '/y', count: 0 });
});

test('match returns the whole match and the groups', () => {
  assert.deepEqual(compileNgxRegex('/(\\w+)/(\\d+)?').match('/abc/'), ['/abc/', 'abc', undefined]);
  assert.equal(compileNgxRegex('x').match('y'), undefined);
});

test('options: i (caseless), x (extended), a (anchored)', () => {
  assert.ok(compileNgxRegex('HELLO', 'i').match('say hello'));
  assert.ok(compileNgxRegex('h e l # comment\n l o', 'x').match('hello'));
  assert.equal(compileNgxRegex('b', 'a').match('ab'), undefined);
  assert.ok(compileNgxRegex('a', 'a').match('ab'));
});

test('bad patterns, flags and templates are refused with the reason', () => {
  assert.throws(() => compileNgxRegex('(unclosed'), /Unterminated group|unterminated|missing/i);
  assert.throws(() => compileNgxRegex('a', 'z'), /unknown flag "z"/);
  assert.throws(() => compileNgxTemplate('/$x'), /invalid capturing variable name/);
  assert.throws(() => compileNgxTemplate('/${1'), /closing bracket/);
});

test('binary mode matches bytes of the UTF-8 form', () => {
  const re = compileNgxRegex('é', 'jo', true);
  const body = Buffer.from('café').toString('latin1');
  const out = re.replace(body, compileNgxTemplate('e', true), false).result;
  assert.equal(Buffer.from(out, 'latin1').toString('utf8'), 'cafe');
});

test('anchored replace takes only consecutive matches from the start, like a sticky RegExp', () => {
  assert.deepEqual(compileNgxRegex('a', 'a').replace('aab', compileNgxTemplate('x'), true), { result: 'xxb', count: 2 });
  assert.deepEqual(compileNgxRegex('a', 'a').replace('aab', compileNgxTemplate('x'), false), { result: 'xab', count: 1 });
  assert.deepEqual(compileNgxRegex('a', 'a').replace('bab', compileNgxTemplate('x'), true), { result: 'bab', count: 0 });
});

test('empty matches and unmatched groups replace as gsub does', () => {
  assert.equal(compileNgxRegex('a*').replace('baaac', compileNgxTemplate('[$0]'), true).result, '[]b[aaa][]c[]');
  assert.equal(compileNgxRegex('(x)|b').replace('ab', compileNgxTemplate('<$1>'), true).result, 'a<>');
});

test('patterns run in linear time: a catastrophic one answers at once', { timeout: 20000 }, () => {
  const re = compileNgxRegex('^(a+)+$', 'jo');
  const subject = 'a'.repeat(40) + '!';
  assert.equal(re.match(subject), undefined);
  assert.deepEqual(re.replace(subject, compileNgxTemplate('x'), true), { result: subject, count: 0 });
});

test('back references and lookaround are refused with the reason', () => {
  assert.throws(() => compileNgxRegex('(a)\\1', 'jo'), /back references .* not supported by the linear-time regex engine/);
  assert.throws(() => compileNgxRegex('/api(?=/v1)', 'jo'), /lookahead assertions are not supported/);
});
