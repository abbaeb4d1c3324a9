import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import plugin, { encodeBatch } from './http-logger.js';
import { logger, setLogger } from '../core/logger.js';
import { makeCert } from '../../test/helpers/certs.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

interface Received { headers: http.IncomingHttpHeaders; body: string }
const received: Received[] = [];
let failNext = 0;
let server: http.Server;
let uri: string;

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = failNext > 0 ? (failNext--, 500) : 200;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/logs`;
});

after(async () => {
  await plugin.destroy!();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not met in time');
}

test('declares statistics 410 with APISIX\'s schema and defaults', () => {
  assert.equal(plugin.stage, 'statistics');
  assert.equal(plugin.priority, 410);
  assert.match(schemaError(plugin.schema, {})!, /uri/);
  assert.match(schemaError(plugin.schema, { uri: 'not a uri' })!, /uri/);
  assert.match(schemaError(plugin.schema, { uri, concat_method: 'csv' })!, /concat_method/);
  const p = prepareWith(plugin, { uri });
  assert.deepEqual(
    { timeout: p.conf.timeout, batch_max_size: p.conf.batch_max_size, inactive_timeout: p.conf.inactive_timeout, buffer_duration: p.conf.buffer_duration,
      max_retry_count: p.conf.max_retry_count, retry_delay: p.conf.retry_delay, concat_method: p.conf.concat_method, ssl_verify: p.conf.ssl_verify },
    { timeout: 3, batch_max_size: 1000, inactive_timeout: 5, buffer_duration: 60, max_retry_count: 0, retry_delay: 1, concat_method: 'json', ssl_verify: false });
  assert.equal(p.processor, undefined, 'prepare alone opens nothing');
});

test('batch encodings: array, single object when batch_max_size is 1, new_line', () => {
  assert.deepEqual(encodeBatch({ concat_method: 'json', batch_max_size: 2 }, [{ a: 1 }, { b: 2 }]), { body: '[{"a":1},{"b":2}]', contentType: 'application/json' });
  assert.deepEqual(encodeBatch({ concat_method: 'json', batch_max_size: 1 }, [{ a: 1 }]), { body: '{"a":1}', contentType: 'application/json' });
  assert.deepEqual(encodeBatch({ concat_method: 'new_line', batch_max_size: 5 }, [{ a: 1 }, { b: 2 }]), { body: '{"a":1}\n{"b":2}', contentType: 'text/plain' });
});

test('entries are POSTed in batches with the auth header', async () => {
  received.length = 0;
  const p = prepareWith(plugin, { uri, batch_max_size: 2, auth_header: 'Bearer t0k', log_format: { u: '$uri' } });
  plugin.log!(p, createTestContext({ uri: '/1' }));
  plugin.log!(p, createTestContext({ uri: '/2' }));
  await until(() => received.length === 1);
  assert.deepEqual(JSON.parse(received[0]!.body), [{ u: '/1' }, { u: '/2' }]);
  assert.equal(received[0]!.headers.authorization, 'Bearer t0k');
  assert.equal(received[0]!.headers['content-type'], 'application/json');
});

test('a failing endpoint is retried, then the batch arrives', async () => {
  received.length = 0;
  failNext = 2;
  const p = prepareWith(plugin, { uri, batch_max_size: 1, max_retry_count: 2, retry_delay: 0, log_format: { n: '$arg_n' } });
  plugin.log!(p, createTestContext({ uri: '/?n=7' }));
  await until(() => p.processor!.sent === 1);
  assert.equal(received.length, 3);
  for (const r of received) assert.deepEqual(JSON.parse(r.body), { n: '7' });
});

test('an unreachable endpoint never throws into the request', async () => {
  const p = prepareWith(plugin, { uri: 'http://127.0.0.1:1/none', batch_max_size: 1, timeout: 1 });
  assert.doesNotThrow(() => plugin.log!(p, createTestContext({ uri: '/x' })));
  await until(() => p.processor!.failed === 1);
});

test('uri: a scheme other than http or https is refused when the config is prepared (written)', () => {
  assert.throws(() => prepareWith(plugin, { uri: 'ftp://127.0.0.1/logs' }), /uri: scheme "ftp" is not supported \(http or https\)/);
  assert.throws(() => prepareWith(plugin, { uri: 'tcp://127.0.0.1:9' }), /uri: scheme "tcp"/);
  assert.doesNotThrow(() => prepareWith(plugin, { uri: 'https://127.0.0.1:9/logs' }));
  assert.doesNotThrow(() => prepareWith(plugin, { uri: 'HTTP://127.0.0.1:9/logs' }));
});

test('name: the batch processor\'s warnings carry it (default "http logger")', async () => {
  const lines: string[] = [];
  const previous = logger();
  setLogger(pino({ level: 'warn' }, { write: (line: string) => { lines.push(line); } }));
  try {
    const p = prepareWith(plugin, { uri: 'http://127.0.0.1:1/none', batch_max_size: 1, timeout: 1, name: 'audit sink' });
    plugin.log!(p, createTestContext({ uri: '/x' }));
    await until(() => lines.some((l) => l.includes('Batch Processor[audit sink] 1 failed attempt')));
  } finally {
    setLogger(previous);
  }
});

test('ssl_verify: a self-signed collector is refused when true, used when false (the default)', async () => {
  const got: string[] = [];
  const tls = https.createServer(makeCert(['localhost'], { keyType: 'ec' }), (req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { got.push(body); res.end(); });
  });
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  try {
    const at = `https://localhost:${(tls.address() as AddressInfo).port}/logs`;
    const verifying = prepareWith(plugin, { uri: at, ssl_verify: true, batch_max_size: 1, log_format: { n: '$arg_n' } });
    plugin.log!(verifying, createTestContext({ uri: '/?n=1' }));
    await until(() => verifying.processor!.failed === 1);
    const trusting = prepareWith(plugin, { uri: at, batch_max_size: 1, log_format: { n: '$arg_n' } });
    plugin.log!(trusting, createTestContext({ uri: '/?n=2' }));
    await until(() => trusting.processor!.sent === 1);
    assert.deepEqual(got.map((b) => JSON.parse(b)), [{ n: '2' }]);
  } finally {
    tls.closeAllConnections();
    await new Promise((r) => tls.close(r));
  }
});

test('timeout: a collector that never answers fails the attempt instead of holding the batch', async () => {
  const silent = http.createServer(() => { /* never answers */ });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  try {
    const p = prepareWith(plugin, { uri: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`, batch_max_size: 1, timeout: 1 });
    plugin.log!(p, createTestContext({ uri: '/x' }));
    await until(() => p.processor!.failed === 1);
  } finally {
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
  }
});
