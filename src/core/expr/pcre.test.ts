import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePcre, translatePcre } from './pcre.js';
import { ExprError } from './expr-error.js';

function search(pattern: string, s: string, caseless = false): boolean {
  return compilePcre(pattern, caseless).test(s);
}

test('ordinary patterns pass through unchanged', () => {
  for (const p of ['^/api/v[0-9]+/', 'a|b', '(\\d{3})-\\w+', '[^/]+\\.json$', '\\.', '(?<name>x)\\k<name>', '(?=a)', '(?<!b)c']) {
    assert.equal(translatePcre(p, false).source, p);
  }
});

test('leading inline options become flags', () => {
  assert.deepEqual(translatePcre('(?i)abc', false), { source: 'abc', flags: 'i' });
  assert.deepEqual(translatePcre('(?is)a.c', false), { source: 'a.c', flags: 'is' });
  assert.deepEqual(translatePcre('(?i)x', true), { source: 'x', flags: 'i' });
  assert.equal(search('(?s)a.c', 'a\nc'), true);
  assert.equal(search('a.c', 'a\nc'), false);
});

test('an unsupported inline option is refused', () => {
  assert.throws(() => compilePcre('(?x) a b', false), ExprError);
  assert.throws(() => compilePcre('a(?i)b', false), ExprError);
});

test('\\A, \\z and \\Z anchor to the subject, not to a line', () => {
  assert.equal(search('\\Afoo', 'foo'), true);
  assert.equal(search('\\Afoo', 'xfoo'), false);
  assert.equal(search('(?m)\\Afoo', 'x\nfoo'), false);
  assert.equal(search('bar\\z', 'bar\n'), false);
  assert.equal(search('bar\\Z', 'bar\n'), true);
  assert.equal(search('bar\\Z', 'bar\nx'), false);
});

test('a ] right after the opening bracket is a literal member', () => {
  assert.equal(search('[]a]', ']'), true);
  assert.equal(search('[]a]', 'a'), true);
  assert.equal(search('^[^]a]$', 'b'), true);
  assert.equal(search('^[^]a]$', ']'), false);
});

test('POSIX classes inside brackets are expanded', () => {
  assert.equal(search('^[[:alpha:]]+$', 'abcXYZ'), true);
  assert.equal(search('^[[:alpha:]]+$', 'abc1'), false);
  assert.equal(search('^[[:xdigit:][:space:]]+$', 'ff 0A'), true);
  assert.equal(search('^[[:punct:]]$', '!'), true);
  assert.throws(() => compilePcre('[[:nope:]]', false), ExprError);
});

test('PCRE escapes JS reads differently are translated', () => {
  assert.equal(search('\\x41', 'A'), true);
  assert.equal(search('^\\x4$', '\x04'), true);
  assert.equal(search('\\x{263A}', '\u263a'), true);
  assert.equal(search('\\e', '\x1b'), true);
  assert.equal(search('^\\Qa.b*\\E$', 'a.b*'), true);
  assert.equal(search('^\\Qa.b*\\E$', 'axbb'), false);
  assert.equal(search('(?P<year>\\d{4})-(?P=year)', '2024-2024'), true);
  assert.equal(search("(?'n'a)\\k{n}", 'aa'), true);
  assert.equal(search('a(?#a comment)b', 'ab'), true);
});

test('PCRE-only syntax that JS cannot express is refused as invalid regex', () => {
  for (const p of ['a++', '(?>a)', '\\h', '\\R', '\\K', '\\p{L}', '\\x{1F600}', 'a\\', '[', '(?|a)']) {
    assert.throws(() => compilePcre(p, false), (err: unknown) => err instanceof ExprError && /^invalid regex/.test(err.message), p);
  }
});
