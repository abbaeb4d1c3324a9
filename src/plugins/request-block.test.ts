import { test } from 'node:test';
import assert from 'node:assert/strict';
import requestBlock from './request-block.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

test('schema: one list at least, defaults, field errors', () => {
  const p = prepareWith(requestBlock, { block_urls: ['swagger'] });
  assert.equal(p.status, 403);
  assert.equal(p.message, '');
  assert.equal(p.caseSensitive, true);
  assert.match(schemaError(requestBlock.schema, {})!, /block_urls/);
  assert.match(schemaError(requestBlock.schema, { block_urls: [''] })!, /property "block_urls"/);
  assert.match(schemaError(requestBlock.schema, { block_urls: ['x'], blocked_code: 99 })!, /property "blocked_code"/);
  assert.match(schemaError(requestBlock.schema, { block_bodies: 'x' })!, /property "block_bodies"/);
  assert.match(schemaError(requestBlock.schema, { block_urls: ['x'], case_sensitive: 'no' })!, /property "case_sensitive"/);
  assert.match(schemaError(requestBlock.schema, { block_urls: ['x'], block_url: ['y'] })!, /block_url/);
});

test('a URL substring, query included, is refused with blocked_code and blocked_message', async () => {
  const p = prepareWith(requestBlock, { block_urls: ['swagger.html', 'debug=1'], blocked_code: 404, blocked_message: 'gone' });
  assert.deepEqual(await requestBlock.access!(p, createTestContext({ uri: '/api/swagger.html' })), { status: 404, body: 'gone' });
  assert.deepEqual(await requestBlock.access!(p, createTestContext({ uri: '/api?debug=1' })), { status: 404, body: 'gone' });
  assert.equal(await requestBlock.access!(p, createTestContext({ uri: '/api/Swagger.html' })), undefined, 'case-sensitive by default');
  assert.equal(await requestBlock.access!(p, createTestContext({ uri: '/api' })), undefined);
});

test('case_sensitive false folds patterns and input', async () => {
  const p = prepareWith(requestBlock, { block_urls: ['Swagger'], block_headers: ['EVIL-agent'], block_bodies: ['DROP TABLE'], case_sensitive: false });
  assert.equal((await requestBlock.access!(p, createTestContext({ uri: '/SWAGGER' })))?.status, 403);
  assert.equal((await requestBlock.access!(p, createTestContext({ headers: { 'user-agent': 'Evil-Agent/1' } })))?.status, 403);
  const ctx = createTestContext({ method: 'POST' });
  ctx.request.setBody('select 1; drop table users; -- é');
  assert.equal((await requestBlock.access!(p, ctx))?.status, 403);
});

test('header patterns see names and values; a name and its value are joined by a newline', async () => {
  const p = prepareWith(requestBlock, { block_headers: ['x-debug\non'] });
  assert.equal((await requestBlock.access!(p, createTestContext({ headers: { 'X-Debug': 'on' } })))?.status, 403);
  assert.equal(await requestBlock.access!(p, createTestContext({ headers: { 'X-Debug': 'off' } })), undefined);
});

test('the body is read only when block_bodies is set, and matched as bytes', async () => {
  const p = prepareWith(requestBlock, { block_bodies: ['naïve'] });
  const ctx = createTestContext({ method: 'POST' });
  ctx.request.setBody('a naïve body');
  assert.equal((await requestBlock.access!(p, ctx))?.status, 403);
  const noBody = prepareWith(requestBlock, { block_urls: ['/never'] });
  const untouched = createTestContext({ method: 'POST' });
  untouched.request.body = () => { throw new Error('body read'); };
  assert.equal(await requestBlock.access!(noBody, untouched), undefined);
});
