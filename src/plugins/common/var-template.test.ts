import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileVarTemplate } from './var-template.js';

const vars: Record<string, unknown> = { uri: '/a b', arg_name: 'jack', status: 200, http_x_y: 'z' };
const lookup = (n: string): unknown => vars[n];

test('a template without $ is static and renders as is', () => {
  const t = compileVarTemplate('/plain/path');
  assert.equal(t.isStatic, true);
  assert.equal(t.render(lookup), '/plain/path');
});

test('$name and ${name} resolve variables; unknown ones become empty', () => {
  assert.equal(compileVarTemplate('/u$uri?n=$arg_name').render(lookup), '/u/a b?n=jack');
  assert.equal(compileVarTemplate('${arg_name}x').render(lookup), 'jackx');
  assert.equal(compileVarTemplate('[$nope]').render(lookup), '[]');
  assert.equal(compileVarTemplate('$status').render(lookup), '200');
  assert.deepEqual(compileVarTemplate('$uri-${http_x_y}').variables, ['uri', 'http_x_y']);
});

test('${name ?? default} falls back when the variable is nil', () => {
  assert.equal(compileVarTemplate('${arg_missing ?? none}').render(lookup), 'none');
  assert.equal(compileVarTemplate('${arg_name??none}').render(lookup), 'jack');
});

test('an escaped \\$ is left alone', () => {
  assert.equal(compileVarTemplate('\\$uri').render(lookup), '\\$uri');
});

test('the escaper applies to resolved values only', () => {
  const t = compileVarTemplate('/p?x=$arg_q');
  assert.equal(t.render((n) => (n === 'arg_q' ? 'a?b' : undefined), undefined, (v) => v.replaceAll('?', '%3F')), '/p?x=a%3Fb');
});

test('with captures, $1 and ${2} read regex captures', () => {
  const t = compileVarTemplate('$1-${2}-$1x-$arg_name', { captures: true });
  assert.equal(t.render(lookup, ['all', 'a', 'b']), 'a-b-ax-jack');
  assert.equal(t.render(lookup, undefined), '--x-jack');
});
