import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import plugin from './tcp-logger.js';
import { makeCert } from '../../test/helpers/certs.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';
import { startSilentTcpServer, startTcpLogServer, until, expectBatchFailure } from '../../test/helpers/log-servers.js';

after(() => plugin.destroy!());

test('declares statistics 405 with APISIX\'s fields and defaults', () => {
  assert.equal(plugin.stage, 'statistics');
  assert.equal(plugin.priority, 405);
  assert.match(schemaError(plugin.schema, { port: 1 })!, /host/);
  assert.match(schemaError(plugin.schema, { host: 'h' })!, /port/);
  assert.match(schemaError(plugin.schema, { host: 'h', port: 70000 })!, /port/);
  assert.match(schemaError(plugin.schema, { host: 'h', port: 1, protocol: 'x' })!, /protocol/);
  const p = prepareWith(plugin, { host: '127.0.0.1', port: 9 });
  assert.deepEqual({ tls: p.conf.tls, timeout: p.conf.timeout, batch_max_size: p.conf.batch_max_size, inactive_timeout: p.conf.inactive_timeout },
    { tls: false, timeout: 1000, batch_max_size: 1000, inactive_timeout: 5 });
  assert.equal(p.processor, undefined, 'prepare alone opens nothing');
});

test('tls_options is the TLS server name: refused without tls, or when it is not a name', () => {
  assert.throws(() => prepareWith(plugin, { host: 'h', port: 1, tls_options: 'logs.example.com' }), /tls_options: it is the TLS server name, so it needs tls: true/);
  assert.throws(() => prepareWith(plugin, { host: 'h', port: 1, tls: true, tls_options: 'no_verify=1' }), /tls_options: "no_verify=1" is not a server name/);
  assert.equal(prepareWith(plugin, { host: '127.0.0.1', port: 1, tls: true, tls_options: 'logs.example.com' }).sink.target.servername, 'logs.example.com');
});

test('a batch goes on its own connection as a JSON array; batch_max_size 1 sends the object', async () => {
  const server = await startTcpLogServer();
  try {
    const p = prepareWith(plugin, { host: '127.0.0.1', port: server.port, batch_max_size: 2, log_format: { u: '$uri', s: '$arg_s' } });
    plugin.log!(p, createTestContext({ uri: '/a?s=1' }));
    plugin.log!(p, createTestContext({ uri: '/b?s=2' }));
    await until(() => server.connections.length === 1);
    assert.deepEqual(JSON.parse(server.connections[0]!.data), [{ u: '/a', s: '1' }, { u: '/b', s: '2' }]);
    const one = prepareWith(plugin, { host: '127.0.0.1', port: server.port, batch_max_size: 1, log_format: { u: '$uri' } });
    plugin.log!(one, createTestContext({ uri: '/c' }));
    await until(() => server.connections.length === 2);
    assert.equal(server.connections[1]!.data, '{"u":"/c"}');
  } finally {
    await server.close();
  }
});

test('tls: the collector\'s certificate is checked; a self-signed one fails the batch (nothing is sent)', async () => {
  const server = await startTcpLogServer({ tls: makeCert(['logs.test'], { keyType: 'ec' }) });
  try {
    const p = prepareWith(plugin, { host: '127.0.0.1', port: server.port, tls: true, tls_options: 'logs.test', batch_max_size: 1 });
    plugin.log!(p, createTestContext({ uri: '/x' }));
    await until(() => p.processor!.failed === 1);
    assert.equal(server.connections.filter((c) => c.data !== '').length, 0);
  } finally {
    await server.close();
  }
});

test('refused and silent servers fail the batch within timeout, never the request', async () => {
  await expectBatchFailure(plugin, { host: '127.0.0.1', port: 1, batch_max_size: 1 });
  // a TLS client waits for the server's hello: timeout (ms) ends the wait
  const silent = await startSilentTcpServer();
  try {
    const p = prepareWith(plugin, { host: '127.0.0.1', port: silent.port, tls: true, timeout: 100, batch_max_size: 1 });
    const started = Date.now();
    plugin.log!(p, createTestContext({ uri: '/x' }));
    await until(() => p.processor!.failed === 1);
    // timeout is what ended it: the 1000 ms default would not have failed it yet
    const took = Date.now() - started;
    assert.ok(took < 900, `failed after ${took} ms with timeout: 100`);
  } finally {
    await silent.close();
  }
});
