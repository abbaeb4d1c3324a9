import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileExpr, ExprError } from './expr.js';
import { isKnownVariable } from './variables.js';

function ev(rule: unknown, vars: Record<string, unknown> = {}): boolean {
  return compileExpr(rule)((name) => vars[name]);
}

function throwsExpr(rule: unknown, message: string | RegExp, opts?: Parameters<typeof compileExpr>[1]): void {
  assert.throws(() => compileExpr(rule, opts), (err: unknown) => {
    assert.ok(err instanceof ExprError, `expected ExprError, got ${String(err)}`);
    assert.ok(err instanceof Error);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

test('an empty rule is always true and reads no variable', () => {
  const f = compileExpr([]);
  assert.equal(f(() => assert.fail('no variable should be read')), true);
});

test('== compares strings exactly', () => {
  assert.equal(ev([['arg_a', '==', 'x']], { arg_a: 'x' }), true);
  assert.equal(ev([['arg_a', '==', 'x']], { arg_a: 'X' }), false);
  assert.equal(ev([['arg_a', '==', 'x']], {}), false);
});

test('== with a number on the right converts the variable like Lua tonumber', () => {
  const rule = [['arg_n', '==', 10]];
  assert.equal(ev(rule, { arg_n: '10' }), true);
  assert.equal(ev(rule, { arg_n: '10.0' }), true);
  assert.equal(ev(rule, { arg_n: ' 10 ' }), true);
  assert.equal(ev(rule, { arg_n: '0xa' }), true);
  assert.equal(ev(rule, { arg_n: '1e1' }), true);
  assert.equal(ev(rule, { arg_n: 10 }), true);
  assert.equal(ev(rule, { arg_n: '11' }), false);
  assert.equal(ev(rule, { arg_n: 'ten' }), false);
  assert.equal(ev(rule, { arg_n: '' }), false);
  assert.equal(ev(rule, {}), false);
});

test('== with a string on the right does not convert, but a numeric variable equals its decimal string', () => {
  assert.equal(ev([['arg_n', '==', '10']], { arg_n: '10.0' }), false);
  assert.equal(ev([['status', '==', '200']], { status: 200 }), true);
  assert.equal(ev([['status', '==', '200']], { status: 201 }), false);
});

test('== with a boolean or a table on the right uses raw equality', () => {
  assert.equal(ev([['flag', '==', true]], { flag: true }), true);
  assert.equal(ev([['flag', '==', true]], { flag: 'true' }), false);
  assert.equal(ev([['arg_a', '==', ['x']]], { arg_a: 'x' }), false);
});

test('a JSON null on the right means nil', () => {
  assert.equal(ev([['arg_a', '==', null]], {}), true);
  assert.equal(ev([['arg_a', '==', null]], { arg_a: null }), true);
  assert.equal(ev([['arg_a', '==', null]], { arg_a: '' }), false);
  assert.equal(ev([['arg_a', '~=', null]], { arg_a: 'x' }), true);
  assert.equal(ev([['arg_a', '~=', null]], {}), false);
});

test('~= is the negation of ==, so a non-numeric variable differs from any number', () => {
  assert.equal(ev([['arg_a', '~=', 'x']], { arg_a: 'y' }), true);
  assert.equal(ev([['arg_a', '~=', 'x']], { arg_a: 'x' }), false);
  assert.equal(ev([['arg_a', '~=', 'x']], {}), true);
  assert.equal(ev([['arg_n', '~=', 10]], { arg_n: 'abc' }), true);
  assert.equal(ev([['arg_n', '~=', 10]], {}), true);
  assert.equal(ev([['arg_n', '~=', 10]], { arg_n: '10' }), false);
});

test('ordering operators convert both sides to numbers', () => {
  assert.equal(ev([['arg_n', '>', 9]], { arg_n: '10' }), true);
  assert.equal(ev([['arg_n', '>', '9']], { arg_n: '10' }), true);
  assert.equal(ev([['arg_n', '>', 10]], { arg_n: '10' }), false);
  assert.equal(ev([['arg_n', '>=', 10]], { arg_n: '10' }), true);
  assert.equal(ev([['arg_n', '<', 10]], { arg_n: '-3.5' }), true);
  assert.equal(ev([['arg_n', '<', 10]], { arg_n: '10' }), false);
  assert.equal(ev([['arg_n', '<=', 10]], { arg_n: '10' }), true);
  assert.equal(ev([['arg_n', '>=', 1000]], { arg_n: '1e3' }), true);
  assert.equal(ev([['content_length', '>', 100]], { content_length: 101 }), true);
});

test('ordering operators are false when either side is not numeric', () => {
  assert.equal(ev([['arg_n', '>', 1]], { arg_n: 'abc' }), false);
  assert.equal(ev([['arg_n', '<', 1]], { arg_n: 'abc' }), false);
  assert.equal(ev([['arg_n', '>', 1]], {}), false);
  assert.equal(ev([['arg_n', '>', 'abc']], { arg_n: '5' }), false);
  assert.equal(ev([['arg_n', '<=', null]], { arg_n: '5' }), false);
});

test('~~ is an unanchored regex search', () => {
  assert.equal(ev([['uri', '~~', '/api/v[0-9]+']], { uri: '/x/api/v2/users' }), true);
  assert.equal(ev([['uri', '~~', '^/api']], { uri: '/x/api' }), false);
  assert.equal(ev([['uri', '~~', 'API']], { uri: '/api' }), false);
  assert.equal(ev([['uri', '~~', 'a']], {}), false);
  assert.equal(ev([['status', '~~', '^2']], { status: 204 }), true);
  assert.equal(ev([['arg_a', '~~', 'a']], { arg_a: ['a'] }), false);
});

test('~* is a case-insensitive regex search', () => {
  assert.equal(ev([['http_user_agent', '~*', 'curl']], { http_user_agent: 'CURL/8.0' }), true);
  assert.equal(ev([['http_user_agent', '~*', '^wget']], { http_user_agent: 'curl' }), false);
});

test('a regex is evaluated the same way on every call (no lastIndex state)', () => {
  const f = compileExpr([['uri', '~~', 'a']]);
  for (let i = 0; i < 3; i++) assert.equal(f(() => 'banana'), true);
});

test('PCRE-only constructs are translated or refused', () => {
  assert.equal(ev([['arg_a', '~~', '(?i)abc']], { arg_a: 'xABCx' }), true);
  assert.equal(ev([['arg_a', '~~', '\\Aab\\z']], { arg_a: 'ab' }), true);
  assert.equal(ev([['arg_a', '~~', '\\Aab\\z']], { arg_a: 'xab' }), false);
  assert.equal(ev([['arg_a', '~~', '^[[:digit:]]+$']], { arg_a: '123' }), true);
  throwsExpr([['arg_a', '~~', 'a++']], /^invalid regex 'a\+\+'/);
  throwsExpr([['arg_a', '~~', '(?>a)']], /^invalid regex/);
  throwsExpr([['arg_a', '~~', '\\h']], /^invalid regex/);
  throwsExpr([['arg_a', '~~', '(']], /^invalid regex/);
  throwsExpr([['arg_a', '~~', null]], /^invalid regex/);
});

test('~~ and ~* run in linear time: a catastrophic pattern answers at once', { timeout: 20000 }, () => {
  const adversarial = 'a'.repeat(40) + '!';
  assert.equal(ev([['arg_x', '~~', '^(a+)+$']], { arg_x: adversarial }), false);
  assert.equal(ev([['arg_x', '~*', '^(A+)+$']], { arg_x: adversarial }), false);
  assert.equal(ev([['arg_x', '~~', '^(a+)+$']], { arg_x: 'a'.repeat(40) }), true);
});

test('back references and lookaround are refused when the rule is compiled', () => {
  throwsExpr([['arg_a', '~~', '(a)\\1']], /back references .* not supported by the linear-time regex engine/);
  throwsExpr([['arg_a', '~~', 'a(?=b)']], /lookahead assertions are not supported/);
  throwsExpr([['arg_a', '~*', '(?<!a)b']], /lookbehind assertions are not supported/);
});

test('in is true when the variable equals an element, without number coercion', () => {
  assert.equal(ev([['request_method', 'in', ['GET', 'POST']]], { request_method: 'POST' }), true);
  assert.equal(ev([['request_method', 'in', ['GET', 'POST']]], { request_method: 'PUT' }), false);
  assert.equal(ev([['arg_n', 'in', [1, 2]]], { arg_n: '1' }), false);
  assert.equal(ev([['arg_n', 'in', [1, 2]]], { arg_n: 1 }), true);
  assert.equal(ev([['status', 'in', ['200', '204']]], { status: 204 }), true);
  assert.equal(ev([['arg_a', 'in', ['x', null]]], {}), false);
  assert.equal(ev([['arg_a', 'in', 'x']], { arg_a: 'x' }), false);
});

test('has is true when an array variable contains the value', () => {
  const vars = { graphql_root_fields: ['owner', 'repo'] };
  assert.equal(ev([['graphql_root_fields', 'has', 'owner']], vars), true);
  assert.equal(ev([['graphql_root_fields', 'has', 'issues']], vars), false);
  assert.equal(ev([['graphql_root_fields', 'has', 'owner']], { graphql_root_fields: 'owner' }), false);
  assert.equal(ev([['graphql_root_fields', 'has', null]], { graphql_root_fields: [undefined] }), false);
});

test('ipmatch accepts one address or a list of addresses and CIDRs of both families', () => {
  assert.equal(ev([['remote_addr', 'ipmatch', '10.0.0.1']], { remote_addr: '10.0.0.1' }), true);
  const rule = [['remote_addr', 'ipmatch', ['192.168.0.0/16', '2001:db8::/32']]];
  assert.equal(ev(rule, { remote_addr: '192.168.5.5' }), true);
  assert.equal(ev(rule, { remote_addr: '2001:db8::7' }), true);
  assert.equal(ev(rule, { remote_addr: '::ffff:192.168.1.1' }), true);
  assert.equal(ev(rule, { remote_addr: '10.0.0.1' }), false);
  assert.equal(ev(rule, {}), false);
});

test('ipmatch refuses an empty or malformed address list at compile time', () => {
  throwsExpr([['remote_addr', 'ipmatch', '']], 'invalid ip address');
  throwsExpr([['remote_addr', 'ipmatch', []]], 'invalid ip address');
  throwsExpr([['remote_addr', 'ipmatch', null]], 'invalid ip address');
  throwsExpr([['remote_addr', 'ipmatch', ['10.0.0.0/8', '300.0.0.1']]], 'invalid ip address: 300.0.0.1');
});

test('the ! prefix inverts any operator', () => {
  assert.equal(ev([['arg_a', '!', '==', 'x']], { arg_a: 'x' }), false);
  assert.equal(ev([['arg_a', '!', '==', 'x']], { arg_a: 'y' }), true);
  assert.equal(ev([['arg_n', '!', '>', 5]], { arg_n: '3' }), true);
  assert.equal(ev([['uri', '!', '~~', '^/admin']], { uri: '/admin/x' }), false);
  assert.equal(ev([['request_method', '!', 'in', ['GET']]], { request_method: 'POST' }), true);
  assert.equal(ev([['remote_addr', '!', 'ipmatch', '10.0.0.0/8']], { remote_addr: '11.0.0.1' }), true);
  assert.equal(ev([['graphql_root_fields', '!', 'has', 'a']], { graphql_root_fields: ['a'] }), false);
});

test('a four-element expression whose second element is not ! is refused', () => {
  throwsExpr([['arg_a', 'not', '==', 'x']], "bad 'not' expression");
});

test('the legacy two-element form means ==', () => {
  assert.equal(ev([['arg_a', 'x']], { arg_a: 'x' }), true);
  assert.equal(ev([['arg_a', 'x']], { arg_a: 'y' }), false);
  assert.equal(ev([['arg_n', 5]], { arg_n: '5.0' }), true);
  // lua-resty-expr reads an operator name in the value slot as that operator with nil.
  assert.equal(ev([['arg_a', 'in']], { arg_a: 'in' }), false);
});

test('operator names are case-insensitive', () => {
  assert.equal(ev([['request_method', 'IN', ['GET']]], { request_method: 'GET' }), true);
  assert.equal(ev([['graphql_root_fields', 'Has', 'a']], { graphql_root_fields: ['a'] }), true);
  assert.equal(ev([['remote_addr', 'IPMATCH', '127.0.0.1']], { remote_addr: '127.0.0.1' }), true);
});

test('an unknown operator is refused with its lower-cased name', () => {
  throwsExpr([['arg_a', 'XX', 'x']], "invalid operator 'xx'");
  throwsExpr([['arg_a', '=', 'x']], "invalid operator '='");
  throwsExpr([['arg_a', '!', 'like', 'x']], "invalid operator 'like'");
  throwsExpr([['arg_a', 5, 'x']], "invalid operator '5'");
});

test('top-level expressions are ANDed', () => {
  const rule = [['arg_a', '==', '1'], ['arg_b', '==', '2']];
  assert.equal(ev(rule, { arg_a: '1', arg_b: '2' }), true);
  assert.equal(ev(rule, { arg_a: '1', arg_b: '3' }), false);
});

test('AND, OR, !AND and !OR combine their children', () => {
  const a = ['arg_a', '==', '1'];
  const b = ['arg_b', '==', '1'];
  const cases: [string, boolean, boolean, boolean][] = [
    ['AND', true, true, true], ['AND', true, false, false],
    ['OR', false, true, true], ['OR', false, false, false],
    ['!AND', true, true, false], ['!AND', true, false, true],
    ['!OR', false, false, true], ['!OR', true, false, false],
  ];
  for (const [op, va, vb, want] of cases) {
    const vars = { arg_a: va ? '1' : '0', arg_b: vb ? '1' : '0' };
    assert.equal(ev([op, a, b], vars), want, `${op} ${va} ${vb}`);
  }
});

test('logical operators are case-insensitive and take more than two children', () => {
  const rule = ['or', ['arg_a', '==', '1'], ['arg_b', '==', '1'], ['arg_c', '==', '1']];
  assert.equal(ev(rule, { arg_c: '1' }), true);
  assert.equal(ev(rule, {}), false);
  assert.equal(ev(['!and', ['arg_a', '==', '1'], ['arg_b', '==', '1']], { arg_a: '1' }), true);
});

test('logical groups nest, and a nested array without an operator is an AND group', () => {
  const rule = [
    'OR',
    ['AND', ['arg_a', '==', '1'], ['arg_b', '==', '1']],
    [['arg_c', '==', '1'], ['arg_d', '==', '1']],
  ];
  assert.equal(ev(rule, { arg_a: '1', arg_b: '1' }), true);
  assert.equal(ev(rule, { arg_c: '1', arg_d: '1' }), true);
  assert.equal(ev(rule, { arg_a: '1', arg_c: '1' }), false);
  const deep = [['!OR', ['AND', ['arg_a', '==', '1'], ['OR', ['arg_b', '==', '1'], ['arg_c', '==', '1']]], ['arg_z', '==', '1']]];
  assert.equal(ev(deep, { arg_a: '1', arg_c: '1' }), false);
  assert.equal(ev(deep, { arg_a: '1' }), true);
});

test('AND stops at the first false child and OR at the first true one', () => {
  const read: string[] = [];
  const lookup = (name: string): unknown => {
    read.push(name);
    return name === 'arg_yes' ? '1' : undefined;
  };
  compileExpr([['arg_no', '==', '1'], ['arg_yes', '==', '1']])(lookup);
  assert.deepEqual(read, ['arg_no']);
  read.length = 0;
  compileExpr(['OR', ['arg_yes', '==', '1'], ['arg_no', '==', '1']])(lookup);
  assert.deepEqual(read, ['arg_yes']);
});

test('a rule that is not wrapped in brackets is refused', () => {
  throwsExpr(['arg_a', '==', 'x'], 'rule should be wrapped inside brackets');
  throwsExpr({ arg_a: 'x' }, 'rule should be wrapped inside brackets');
  throwsExpr('arg_a == x', 'rule should be wrapped inside brackets');
  throwsExpr(null, 'missing argument rule');
});

test('a logical operator with fewer than two children, or an empty group, is too short', () => {
  throwsExpr(['AND', ['arg_a', '==', 'x']], 'rule too short');
  throwsExpr(['OR'], 'rule too short');
  throwsExpr([['OR', ['arg_a', '==', 'x']]], 'rule too short');
  throwsExpr([[]], 'rule too short');
});

test('a malformed expression is refused', () => {
  throwsExpr([['arg_a']], 'invalid expression');
  throwsExpr([['arg_a', '==', 'x', 'y', 'z']], 'invalid expression');
  throwsExpr([[5, '==', 'x']], 'invalid expression');
  throwsExpr(['AND', ['arg_a', '==', 'x'], 'arg_b'], 'invalid expression');
});

test('checkVariable refuses unknown variables anywhere in the rule', () => {
  const opts = { checkVariable: isKnownVariable };
  assert.doesNotThrow(() => compileExpr([['arg_a', '==', '1'], ['http_x_user', '~~', 'a'], ['uri', '==', '/']], opts));
  throwsExpr([['foo', '==', '1']], "unknown variable 'foo'", opts);
  throwsExpr(['OR', ['uri', '==', '/'], ['AND', ['host', '==', 'a'], ['bogus_var', '==', '1']]], "unknown variable 'bogus_var'", opts);
});

test('a compiled rule can be evaluated many times with different variables', () => {
  const f = compileExpr([['arg_n', '>', 5], ['uri', '~~', '^/v1/']]);
  assert.equal(f((n) => ({ arg_n: '6', uri: '/v1/x' })[n]), true);
  assert.equal(f((n) => ({ arg_n: '4', uri: '/v1/x' })[n]), false);
  assert.equal(f((n) => ({ arg_n: '6', uri: '/v2/x' })[n]), false);
});
