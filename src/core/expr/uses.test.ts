import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exprVariables, usesBodyVariable } from './uses.js';

test('exprVariables lists what a rule reads, nested logical nodes included', () => {
  assert.deepEqual(exprVariables([['arg_a', '==', '1'], ['OR', ['post_arg.user.id', '==', 1], ['http_x', '!', '~~', 'y']]]),
    ['arg_a', 'post_arg.user.id', 'http_x']);
  assert.deepEqual(exprVariables([]), []);
  assert.throws(() => exprVariables([['a', 'bad', 1]]), /invalid operator/);
});

test('usesBodyVariable tells whether a route must have its body read', () => {
  assert.equal(usesBodyVariable(['arg_a', 'post_arg_name']), true);
  assert.equal(usesBodyVariable(['graphql_operation']), true);
  assert.equal(usesBodyVariable(['request_body']), true);
  assert.equal(usesBodyVariable(['arg_a', 'http_content_type', 'uri']), false);
});
