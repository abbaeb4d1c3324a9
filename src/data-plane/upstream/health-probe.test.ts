import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { classifyNetworkError, httpProbe, tcpProbe } from './health-probe.js';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

describe('health probes', () => {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    res.statusCode = req.url === '/down' ? 503 : 200;
    res.end('body that is never read');
  });
  const silent = net.createServer(() => { /* accepts and never answers */ });
  const sockets = new Set<net.Socket>();
  silent.on('connection', (s) => { sockets.add(s); });
  let port = 0;
  let silentPort = 0;
  before(async () => {
    port = await listen(server);
    silentPort = await listen(silent);
  });
  after(() => {
    server.close();
    for (const s of sockets) s.destroy();
    silent.close();
  });

  it('classifies socket errors into connect, timeout, reset and tls', () => {
    assert.equal(classifyNetworkError({ code: 'ECONNREFUSED' }), 'connect');
    assert.equal(classifyNetworkError({ code: 'ENOTFOUND' }), 'connect');
    assert.equal(classifyNetworkError({ code: 'ETIMEDOUT' }), 'timeout');
    assert.equal(classifyNetworkError({ code: 'ECONNRESET' }), 'reset');
    assert.equal(classifyNetworkError({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'tls');
    assert.equal(classifyNetworkError({ code: 'ERR_SSL_WRONG_VERSION_NUMBER' }), 'tls');
    assert.equal(classifyNetworkError(new Error('no code')), 'reset');
  });

  it('reports the status of an http probe and sends the configured host and headers', async () => {
    const target = { type: 'http' as const, address: '127.0.0.1', port, timeoutMs: 2000, hostHeader: 'api.example', headers: { 'X-Probe': 'yes' } };
    assert.deepEqual(await httpProbe({ ...target, path: '/' }), { status: 200 });
    assert.deepEqual(await httpProbe({ ...target, path: '/down' }), { status: 503 });
    assert.equal(seen.at(-1)?.host, 'api.example');
    assert.equal(seen.at(-1)?.['x-probe'], 'yes');
  });

  it('lets a Host entry in the request headers win over the default host', async () => {
    await httpProbe({ type: 'http', address: '127.0.0.1', port, timeoutMs: 2000, hostHeader: 'a.example', headers: { Host: 'b.example' } });
    assert.equal(seen.at(-1)?.host, 'b.example');
  });

  it('reports a refused connection as a connect error', async () => {
    const port = await closedPort();
    assert.deepEqual(await httpProbe({ type: 'http', address: '127.0.0.1', port, timeoutMs: 2000 }), { error: 'connect' });
    assert.deepEqual(await tcpProbe({ type: 'tcp', address: '127.0.0.1', port, timeoutMs: 2000 }), { error: 'connect' });
  });

  it('reports a server that never answers as a timeout', async () => {
    const port = silentPort;
    assert.deepEqual(await httpProbe({ type: 'http', address: '127.0.0.1', port, timeoutMs: 50 }), { error: 'timeout' });
  });

  it('reports a completed tcp handshake as connected', async () => {
    const port = silentPort;
    assert.deepEqual(await tcpProbe({ type: 'tcp', address: '127.0.0.1', port, timeoutMs: 2000 }), { connected: true });
  });

  it('reports a TLS handshake against a plain server as a failure, not a status', async () => {
    const port = silentPort;
    const outcome = await httpProbe({ type: 'https', address: '127.0.0.1', port, timeoutMs: 50 });
    assert.ok('error' in outcome);
  });
});
