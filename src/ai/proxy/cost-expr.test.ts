import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileCostExpr, evaluateCost, usageFields } from './cost-expr.js';

const cost = (expr: string, usage: Record<string, unknown> = {}): number => evaluateCost(compileCostExpr(expr), usageFields(usage));

test('arithmetic with Lua precedence, modulo and power', () => {
  assert.equal(cost('1 + 2 * 3'), 7);
  assert.equal(cost('(1 + 2) * 3'), 9);
  assert.equal(cost('2 ^ 3 ^ 2'), 512);
  assert.equal(cost('-2 ^ 2 + 10'), 6);
  assert.equal(cost('-7 % 3 + 5'), 7); // Lua: -7 % 3 == 2
  assert.equal(cost('0x10 + 1.5e1'), 31);
  assert.equal(cost('7 / 2'), 4); // 3.5 rounds half up
});

test('usage fields by bare name, breadth first; missing ones are 0', () => {
  const usage = { prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 4, prompt_tokens: 99 } };
  assert.equal(cost('prompt_tokens - cached_tokens + completion_tokens * 2', usage), 16);
  assert.equal(cost('input_tokens + cache_creation_input_tokens + output_tokens', { input_tokens: 3, output_tokens: 2 }), 5);
});

test('functions: the bare five and math.*', () => {
  assert.equal(cost('max(a, b, 3) + min(a, 1) + abs(-2) + ceil(0.2) + floor(1.9)', { a: 5, b: 7 }), 7 + 1 + 2 + 1 + 1);
  assert.equal(cost('math.floor(math.sqrt(16)) + math.pi * 0'), 4);
});

test('a negative cost is 0; a non-finite one is an error', () => {
  assert.equal(cost('a - 10', { a: 1 }), 0);
  assert.throws(() => cost('1 / a'), /non-finite/);
});

test('bad expressions are refused when compiled', () => {
  for (const [expr, message] of [
    ['1 +', /near <eof>/], ['a b', /unexpected symbol near 'b'/], ['os.exit(1)', /unexpected symbol near '\.'/],
    ['print(1)', /print is not an available function/], ['math.random()', /math.random/], ['(1', /'\)' expected/],
    ['a == b', /unexpected symbol near '='/], ['abs', /function, not a number/], ['"x"', /unexpected symbol/],
    ['(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))', /nests too deeply/],
  ] as const) {
    assert.throws(() => compileCostExpr(expr), message, expr);
  }
});
