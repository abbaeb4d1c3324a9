import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWithUpstream, stopWithUpstream, eventually, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { issueCert, makeCa } from '../../helpers/certs.js';
import { startTcpLogServer, type TcpLogServer } from '../../helpers/log-servers.js';
import { assertDeadSinkCostsNothing } from '../../helpers/logger-checks.js';

// tcp-logger against TCP servers on 127.0.0.1: a plain one, a TLS one whose certificate
// a CA the gateway trusts (NODE_EXTRA_CA_CERTS) signed for `logs.test`, and a dead port.
// syslog's `tls` goes through the same sockets: checked here too, against a server whose
// certificate the same CA signed for `localhost` (syslog sends its host as the TLS name).
// The plugin metadata's log_format applies where the instance has none.

let gw: Gateway;
let up: TestUpstream;
let plain: TcpLogServer;
let secure: TcpLogServer;
let syslogTls: TcpLogServer;
let caDir: string;

before(async () => {
  const ca = makeCa('log test CA');
  caDir = await mkdtemp(join(tmpdir(), 'gatehouse-tcp-logger-'));
  await writeFile(join(caDir, 'ca.pem'), ca.cert);
  plain = await startTcpLogServer();
  secure = await startTcpLogServer({ tls: issueCert(ca, 'logs.test', { names: ['logs.test'] }) });
  syslogTls = await startTcpLogServer({ tls: issueCert(ca, 'localhost', { names: ['localhost'] }) });
  ({ gw, up } = await startWithUpstream((upstream) => ({
    plugin_metadata: [{ id: 'tcp-logger', log_format: { path: '$uri', status: '$status', from: 'metadata' } }],
    routes: [
      { id: 'plain', uri: '/plain', upstream, plugins: { 'tcp-logger': { host: '127.0.0.1', port: plain.port, batch_max_size: 2, inactive_timeout: 1 } } },
      { id: 'tls', uri: '/tls', upstream, plugins: { 'tcp-logger': {
        host: '127.0.0.1', port: secure.port, tls: true, tls_options: 'logs.test', batch_max_size: 1, log_format: { args: '$args' },
      } } },
      { id: 'syslog-tls', uri: '/syslog-tls', upstream, plugins: { syslog: {
        host: 'localhost', port: syslogTls.port, tls: true, batch_max_size: 1, log_format: { path: '$uri' },
      } } },
      { id: 'down', uri: '/down', upstream, plugins: { 'tcp-logger': { host: '127.0.0.1', port: 1, batch_max_size: 1, max_retry_count: 1, retry_delay: 0 } } },
    ],
  }), { env: { NODE_EXTRA_CA_CERTS: join(caDir, 'ca.pem') } }));
});

after(async () => {
  await stopWithUpstream(gw, up);
  await plain?.close();
  await secure?.close();
  await syslogTls?.close();
  if (caDir !== undefined) await rm(caDir, { recursive: true, force: true });
});

test('a batch arrives on one connection as a JSON array in the metadata\'s format', async () => {
  for (const n of [1, 2]) assert.equal((await get(`${gw.url}/plain?n=${n}`)).status, 200);
  await eventually(() => plain.connections.length === 1);
  assert.deepEqual(JSON.parse(plain.connections[0]!.data), [
    { path: '/plain', status: 200, from: 'metadata', route_id: 'plain', service_id: '' },
    { path: '/plain', status: 200, from: 'metadata', route_id: 'plain', service_id: '' },
  ]);
  // a lone entry leaves after inactive_timeout
  assert.equal((await get(`${gw.url}/plain?n=3`)).status, 200);
  await eventually(() => plain.connections.length === 2, 60, 50);
  assert.equal(JSON.parse(plain.connections[1]!.data).length, 1);
});

test('tls: the entry goes over TLS to the verified server name; the instance\'s log_format wins over the metadata', async () => {
  assert.equal((await get(`${gw.url}/tls?secret=no`)).status, 200);
  await eventually(() => secure.connections.length === 1);
  assert.equal(secure.connections[0]!.servername, 'logs.test');
  assert.deepEqual(JSON.parse(secure.connections[0]!.data), { args: 'secret=no', route_id: 'tls', service_id: '' });
});

test('syslog over TLS: the message reaches the verified server, LF-framed', async () => {
  assert.equal((await get(`${gw.url}/syslog-tls`)).status, 200);
  await eventually(() => syslogTls.received().endsWith('\n'));
  assert.equal(syslogTls.connections.length, 0, 'the connection is kept alive');
  assert.match(syslogTls.received(), /^<46>1 \S+ \S+ apisix \d+ - - \{"path":"\/syslog-tls","route_id":"syslog-tls","service_id":""\}\n$/);
});

test('a dead server costs the client nothing: backoff, drops counted, a bounded number of warnings', async () => {
  await assertDeadSinkCostsNothing(gw, '/down', 'tcp-logger', 'tcp logger');
});
