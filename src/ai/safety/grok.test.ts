import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRe2 } from '../../core/expr/pcre.js';
import { expandGrok, GROK_PATTERNS } from './grok.js';

function finds(pattern: string, text: string): string | undefined {
  const m = compileRe2(expandGrok(pattern), pattern).matcher(text);
  return m.find() ? m.group() ?? undefined : undefined;
}

test('every built-in pattern expands and compiles on RE2', () => {
  for (const name of Object.keys(GROK_PATTERNS)) assert.doesNotThrow(() => compileRe2(expandGrok(`%{${name}}`), name), name);
});

test('the built-in types find what they name', () => {
  assert.equal(finds('%{MOBILE}', 'call 13800138000 now'), '13800138000');
  assert.equal(finds('%{IDCARD}', 'id 11010519491231002X.'), '11010519491231002X');
  assert.equal(finds('%{IP}', 'host 192.168.0.1 up'), '192.168.0.1');
  assert.equal(finds('%{IP}', 'not 999.1.1.1'), undefined);
  assert.equal(finds('%{IP}', 'v6 2001:db8::8a2e:370:7334 up'), '2001:db8::8a2e:370:7334');
  assert.equal(finds('%{EMAIL}', 'mail test@gmail.com.'), 'test@gmail.com');
  assert.equal(finds('%{BANKCARD}', 'card 6222 0202 0000 1234 ok'), '6222 0202 0000 1234');
  assert.equal(finds('%{BANKCARD}', 'card 4111111111111111.'), '4111111111111111');
  assert.equal(finds('%{PHONE}', 'ring +1 415 555 0100'), '+1 415 555 0100');
});

test('a named macro is a named group; unknown and malformed macros are refused by name', () => {
  const re = compileRe2(expandGrok('%{EMAILLOCALPART}@%{HOSTNAME:domain}'), 'x');
  const m = re.matcher('admin@gmail.com');
  assert.ok(m.find());
  assert.equal(m.group('domain'), 'gmail.com');
  assert.throws(() => expandGrok('%{NOPE}'), /unknown grok pattern %\{NOPE\}/);
  assert.throws(() => expandGrok('%{IP:addr:int}'), /capture name/);
});
