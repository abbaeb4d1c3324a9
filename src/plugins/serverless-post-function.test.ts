import { test } from 'node:test';
import assert from 'node:assert/strict';
import post from './serverless-post-function.js';
import { makeTestContext, prepareConf, schemaError } from '../../test/helpers/plugin-context-transform.js';

test('declares the authorization stage and priority -2000, with the same schema as pre', () => {
  assert.equal(post.name, 'serverless-post-function');
  assert.equal(post.stage, 'authorization');
  assert.equal(post.priority, -2000);
  assert.match(schemaError(post, {})!, /property "functions" is required/);
});

test('runs its functions in the configured phase', async () => {
  const p = prepareConf(post, { phase: 'rewrite', functions: ["(conf, ctx) => { ctx.request.setHeader('x-order', 'post') }"] });
  const ctx = makeTestContext();
  await post.access!(p, ctx);
  assert.equal(ctx.requestHeaders.has('x-order'), false);
  await post.rewrite!(p, ctx);
  assert.equal(ctx.requestHeaders.get('x-order'), 'post');
  ctx.finish();
});

test('prepare names the plugin in compile errors', () => {
  assert.throws(() => prepareConf(post, { functions: ['(('] }), /plugins\.serverless-post-function\.functions\[0\]/);
});
