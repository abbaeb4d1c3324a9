import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePcre, compileRe2, translatePcre } from './pcre.js';
import { ExprError } from './expr-error.js';

function search(pattern: string, s: string, caseless = false): boolean {
  return compilePcre(pattern, caseless).test(s);
}

test('ordinary patterns pass through unchanged', () => {
  for (const p of ['^/api/v[0-9]+/', 'a|b', '(\\d{3})-\\w+', '[^/]+\\.json$', '\\.', '(?i)abc', '[[:alpha:]]+', '\\Afoo\\z']) {
    assert.equal(translatePcre(p), p);
  }
});

test('inline options apply where they are written', () => {
  assert.equal(search('(?i)abc', 'ABC'), true);
  assert.equal(search('(?is)a.c', 'A\nC'), true);
  assert.equal(search('(?s)a.c', 'a\nc'), true);
  assert.equal(search('a.c', 'a\nc'), false);
  assert.equal(search('a(?i)b', 'aB'), true);
  assert.equal(search('a(?i)b', 'AB'), false);
  assert.equal(search('(?i:a)b', 'Ab'), true);
});

test('an option RE2 does not have is refused', () => {
  assert.throws(() => compilePcre('(?x) a b', false), ExprError);
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
  assert.equal(search('^\\p{L}+$', 'été'), true);
  assert.equal(search('\\x{1F600}', '\u{1F600}'), true);
});

test('PCRE escapes JS reads differently are translated', () => {
  assert.equal(search('\\x41', 'A'), true);
  assert.equal(search('^\\x4$', '\x04'), true);
  assert.equal(search('\\x{263A}', '\u263a'), true);
  assert.equal(search('\\e', '\x1b'), true);
  assert.equal(search('^\\Qa.b*\\E$', 'a.b*'), true);
  assert.equal(search('^\\Qa.b*\\E$', 'axbb'), false);
  assert.equal(search('^\\cA$', '\x01'), true);
  assert.equal(search('^\\012$', '\n'), true);
  assert.equal(search('(?P<year>\\d{4})-(?<m>\\d\\d)', '2024-12'), true);
  assert.equal(search("(?'n'a)b", 'ab'), true);
  assert.equal(search('a(?#a comment)b', 'ab'), true);
  assert.equal(search('^\\é\\<\\ $', 'é< '), true);
});

test('\\Z is kept only where it can consume the final newline without changing the answer', () => {
  assert.throws(() => compilePcre('a\\Zb', false), /only supported at the end/);
  assert.throws(() => compileRe2(translatePcre('a\\Z'), 'a\\Z'), ExprError);
  assert.throws(() => translatePcre('a\\Z'), /use \\z or \$/);
});

test('PCRE syntax RE2 cannot run in linear time is refused, naming the construct', () => {
  const refused: [string, RegExp][] = [
    ['(a)\\1', /back references \(\\1\) are not supported by the linear-time regex engine/],
    ['(?<n>a)\\k<n>', /back references/],
    ['(?P<y>a)(?P=y)', /back references/],
    ['(?=a)', /lookahead assertions are not supported/],
    ['a(?!b)', /lookahead assertions/],
    ['(?<=a)b', /lookbehind assertions are not supported/],
    ['(?<!a)b', /lookbehind assertions/],
    ['(?>a+)b', /atomic groups are not supported/],
  ];
  for (const [p, why] of refused) {
    assert.throws(() => compilePcre(p, false), (err: unknown) => err instanceof ExprError && why.test(err.message), p);
  }
});

test('other PCRE-only syntax is refused as invalid regex', () => {
  for (const p of ['a++', '\\h', '\\R', '\\K', 'a\\', '[', '(?|a)', 'a{2000}']) {
    assert.throws(() => compilePcre(p, false), (err: unknown) => err instanceof ExprError && /^invalid regex/.test(err.message), p);
  }
});

// On a backtracking engine `^(a+)+$` against 40 a's and a `!` takes longer than the
// age of the universe; RE2 answers in time linear in the subject.
test('a catastrophic-backtracking pattern answers at once', { timeout: 20000 }, () => {
  const subject = 'a'.repeat(40) + '!';
  assert.equal(search('^(a+)+$', subject), false);
  assert.equal(search('^(a|aa)+$', subject), false);
  assert.equal(search('^(\\w+\\s?)*$', subject), false);
  assert.equal(search('^(a+)+$', 'a'.repeat(40)), true);
});
