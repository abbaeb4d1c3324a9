import { test } from 'node:test';
import assert from 'node:assert/strict';
import realIp, { parseAddress } from './real-ip.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

test('schema: source required, fields named; bad trusted addresses refused', () => {
  assert.equal(schemaError(realIp.schema, {}), 'property "source" is required');
  assert.match(schemaError(realIp.schema, { source: '' })!, /property "source" validation failed/);
  assert.match(schemaError(realIp.schema, { source: 'x', trusted_addresses: [] })!, /property "trusted_addresses" validation failed/);
  assert.match(schemaError(realIp.schema, { source: 'x', recursive: 1 })!, /property "recursive" validation failed/);
  assert.throws(() => prepareWith(realIp, { source: 'http_x', trusted_addresses: ['nope'] }), /invalid ip address: nope/);
  assert.equal(prepareWith(realIp, { source: 'http_x' }).recursive, false);
  assert.throws(() => prepareWith(realIp, { source: 'x_real_ip' }), { message: "source: unknown variable '$x_real_ip'" });
});

test('parseAddress', () => {
  assert.deepEqual(parseAddress('1.2.3.4'), ['1.2.3.4', undefined]);
  assert.deepEqual(parseAddress(' 1.2.3.4:8080 '), ['1.2.3.4', 8080]);
  assert.deepEqual(parseAddress('::1'), ['::1', undefined]);
  assert.deepEqual(parseAddress('[::1]'), ['::1', undefined]);
  assert.deepEqual(parseAddress('[2001:db8::1]:443'), ['2001:db8::1', 443]);
  assert.equal(parseAddress('1.2.3.4:0'), undefined);
  assert.equal(parseAddress('1.2.3.4:70000'), undefined);
  assert.equal(parseAddress('localhost'), undefined);
  assert.equal(parseAddress('[1.2.3.4]'), undefined);
});

test('a header variable sets remote_addr (and remote_port)', async () => {
  const p = prepareWith(realIp, { source: 'http_x_real_ip' });
  const ctx = createTestContext({ remoteAddr: '127.0.0.1', headers: { 'x-real-ip': '1.2.3.4:9080' } });
  assert.equal(await realIp.rewrite!(p, ctx), undefined);
  assert.equal(ctx.var('remote_addr'), '1.2.3.4');
  assert.equal(ctx.var('remote_port'), 9080);
  assert.equal(ctx.var('realip_remote_addr'), '127.0.0.1');
});

test('a query argument as source', async () => {
  const p = prepareWith(realIp, { source: 'arg_realip' });
  const ctx = createTestContext({ uri: '/?realip=2001:db8::5' });
  await realIp.rewrite!(p, ctx);
  assert.equal(ctx.var('remote_addr'), '2001:db8::5');
});

test('missing or bad source values leave remote_addr alone', async () => {
  const p = prepareWith(realIp, { source: 'http_x_real_ip' });
  const a = createTestContext({ remoteAddr: '127.0.0.1' });
  await realIp.rewrite!(p, a);
  assert.equal(a.var('remote_addr'), '127.0.0.1');
  const b = createTestContext({ remoteAddr: '127.0.0.1', headers: { 'x-real-ip': 'garbage' } });
  await realIp.rewrite!(p, b);
  assert.equal(b.var('remote_addr'), '127.0.0.1');
  assert.equal(b.setVars.size, 0);
});

test('X-Forwarded-For: the last address without recursive', async () => {
  const p = prepareWith(realIp, { source: 'http_x_forwarded_for' });
  const ctx = createTestContext({ headers: { 'x-forwarded-for': '1.1.1.1, 2.2.2.2,  3.3.3.3' } });
  await realIp.rewrite!(p, ctx);
  assert.equal(ctx.var('remote_addr'), '3.3.3.3');
  const single = createTestContext({ headers: { 'x-forwarded-for': '9.9.9.9' } });
  await realIp.rewrite!(p, single);
  assert.equal(single.var('remote_addr'), '9.9.9.9');
});

test('X-Forwarded-For recursive: the right-most untrusted hop, else the first', async () => {
  const p = prepareWith(realIp, { source: 'http_x_forwarded_for', recursive: true, trusted_addresses: ['127.0.0.0/8', '10.0.0.0/8'] });
  const a = createTestContext({ headers: { 'x-forwarded-for': '1.1.1.1, 2.2.2.2, 10.0.0.1' } });
  await realIp.rewrite!(p, a);
  assert.equal(a.var('remote_addr'), '2.2.2.2');
  const b = createTestContext({ headers: { 'x-forwarded-for': '1.1.1.1, 10.0.0.2, 10.0.0.1' } });
  await realIp.rewrite!(p, b);
  assert.equal(b.var('remote_addr'), '1.1.1.1');
});

test('recursive is refused where it could have no effect: without trusted_addresses or on another source', () => {
  assert.throws(() => prepareWith(realIp, { source: 'http_x_forwarded_for', recursive: true }),
    /^Error: recursive needs trusted_addresses/);
  assert.throws(() => prepareWith(realIp, { source: 'http_x_real_ip', recursive: true, trusted_addresses: ['10.0.0.0/8'] }),
    /^Error: recursive only applies to source http_x_forwarded_for$/);
  assert.ok(prepareWith(realIp, { source: 'http_x_real_ip', recursive: false }));
});

test('trusted_addresses: only trusted peers may set the address', async () => {
  const p = prepareWith(realIp, { source: 'http_x_real_ip', trusted_addresses: ['10.0.0.0/8'] });
  const untrusted = createTestContext({ remoteAddr: '192.168.1.1', headers: { 'x-real-ip': '1.2.3.4' } });
  await realIp.rewrite!(p, untrusted);
  assert.equal(untrusted.var('remote_addr'), '192.168.1.1');
  const trusted = createTestContext({ remoteAddr: '10.1.1.1', headers: { 'x-real-ip': '1.2.3.4' } });
  await realIp.rewrite!(p, trusted);
  assert.equal(trusted.var('remote_addr'), '1.2.3.4');
});
