import { test } from 'node:test';
import assert from 'node:assert/strict';
import ipr from './ip-restriction.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

test('schema: exactly one list, APISIX messages; bad addresses refused by prepare', () => {
  assert.equal(schemaError(ipr.schema, {}), 'value should match only one schema, but matches none');
  assert.equal(schemaError(ipr.schema, { whitelist: ['1.1.1.1'], blacklist: ['2.2.2.2'] }),
    'value should match only one schema, but matches both schemas 1 and 2');
  assert.match(schemaError(ipr.schema, { whitelist: [] })!, /property "whitelist" validation failed/);
  assert.match(schemaError(ipr.schema, { whitelist: ['1.1.1.1'], response_code: 500 })!, /property "response_code" validation failed/);
  assert.match(schemaError(ipr.schema, { whitelist: ['1.1.1.1'], message: '' })!, /property "message" validation failed/);
  assert.throws(() => prepareWith(ipr, { whitelist: ['1.1.1.300'] }), /^Error: invalid ip address: 1\.1\.1\.300$/);
  assert.throws(() => prepareWith(ipr, { blacklist: ['10.0.0.0/33'] }), /invalid ip address: 10\.0\.0\.0\/33/);
});

test('whitelist allows listed addresses and CIDRs only', async () => {
  const p = prepareWith(ipr, { whitelist: ['127.0.0.1', '10.0.0.0/8', '2001:db8::/32'] });
  for (const ip of ['127.0.0.1', '10.2.3.4', '2001:db8::1', '::ffff:10.0.0.1']) {
    assert.equal(await ipr.access!(p, createTestContext({ remoteAddr: ip })), undefined, ip);
  }
  assert.deepEqual(await ipr.access!(p, createTestContext({ remoteAddr: '192.168.1.1' })),
    { status: 403, body: { message: 'Your IP address is not allowed' } });
});

test('blacklist rejects listed addresses with response_code and message', async () => {
  const p = prepareWith(ipr, { blacklist: ['192.168.0.0/16'], response_code: 404, message: 'not here' });
  assert.deepEqual(await ipr.access!(p, createTestContext({ remoteAddr: '192.168.3.3' })), { status: 404, body: { message: 'not here' } });
  assert.equal(await ipr.access!(p, createTestContext({ remoteAddr: '127.0.0.1' })), undefined);
});

test('reads remote_addr as set by real-ip', async () => {
  const p = prepareWith(ipr, { blacklist: ['1.2.3.4'] });
  const ctx = createTestContext({ remoteAddr: '127.0.0.1' });
  ctx.setVar('remote_addr', '1.2.3.4');
  assert.equal((await ipr.access!(p, ctx))?.status, 403);
});
