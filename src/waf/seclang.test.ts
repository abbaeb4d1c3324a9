import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseActionList, parseOperator, parseVariableList, SecLangError, splitDirectives } from './seclang.js';

test('directives: comments and blank lines dropped, continuations joined, quotes unescaped only before a quote', () => {
  const ds = splitDirectives([
    '# comment', '', 'SecRule ARGS "@rx a\\"b\\d" \\', '    "id:1,\\', '    deny"', 'SecMarker END',
  ].join('\n'), 'f.conf');
  assert.equal(ds.length, 2);
  assert.deepEqual(ds[0]!.args, ['ARGS', '@rx a"b\\d', 'id:1,    deny']);
  assert.equal(ds[0]!.source, 'f.conf:3');
  assert.deepEqual([ds[1]!.name, ds[1]!.args], ['SecMarker', ['END']]);
  assert.throws(() => splitDirectives('SecRule ARGS "@rx x', 'f'), SecLangError);
});

test('actions: single quotes protect commas; names are lower-cased', () => {
  assert.deepEqual(parseActionList("id:1, msg:'a, b', t:none,T:lowercase,deny, setvar:'tx.x=+%{tx.y}'", 's'), [
    { name: 'id', value: '1' }, { name: 'msg', value: 'a, b' }, { name: 't', value: 'none' }, { name: 't', value: 'lowercase' },
    { name: 'deny', value: undefined }, { name: 'setvar', value: 'tx.x=+%{tx.y}' },
  ]);
});

test('variables: exclusions, counts, keys, /regex/ selectors with | inside, XML paths', () => {
  assert.deepEqual(parseVariableList("ARGS|!ARGS:pw|&TX:x|REQUEST_HEADERS:/^(a|b)$/|REQUEST_COOKIES:'/__utm/'|XML:/*", 's'), [
    { collection: 'ARGS', key: undefined, keyIsRegex: false, count: false, exclude: false },
    { collection: 'ARGS', key: 'pw', keyIsRegex: false, count: false, exclude: true },
    { collection: 'TX', key: 'x', keyIsRegex: false, count: true, exclude: false },
    { collection: 'REQUEST_HEADERS', key: '^(a|b)$', keyIsRegex: true, count: false, exclude: false },
    { collection: 'REQUEST_COOKIES', key: '__utm', keyIsRegex: true, count: false, exclude: false },
    { collection: 'XML', key: '/*', keyIsRegex: false, count: false, exclude: false },
  ]);
});

test('operators: negation, default @rx, arguments', () => {
  assert.deepEqual(parseOperator('!@within GET POST'), { name: 'within', arg: 'GET POST', negated: true });
  assert.deepEqual(parseOperator('^foo$'), { name: 'rx', arg: '^foo$', negated: false });
  assert.deepEqual(parseOperator('@detectSQLi'), { name: 'detectsqli', arg: '', negated: false });
});
