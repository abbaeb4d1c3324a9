import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { spawnSync } from 'node:child_process';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { issueCert, makeCa, makeCert, type TestCa, type TestCert } from '../../helpers/certs.js';

// Client certificates on the gateway's TLS listener (ssl `client.ca`, `client.depth`,
// `client.skip_mtls_uri_regex`), against certificates made here with the openssl CLI.

let gw: Gateway;
let up: TestUpstream;
let ca: TestCa;
let otherCa: TestCa;
let client: TestCa;
let deepClient: { cert: string; key: string };
let server: TestCert;

before(async () => {
  up = await startUpstream('mtls-upstream');
  ca = makeCa('clients-ca');
  otherCa = makeCa('other-ca');
  client = issueCert(ca, 'alice');
  const intermediate = issueCert(ca, 'clients-intermediate', { asCa: true });
  const leaf = issueCert(intermediate, 'bob');
  deepClient = { cert: leaf.cert + intermediate.cert, key: leaf.key };
  server = makeCert(['mtls.test', 'open.test', 'skip.test', 'deep.test']);
  const ssl = (id: string, sni: string, client?: Record<string, unknown>) => ({ id, snis: [sni], cert: server.cert, key: server.key, client });
  gw = await startGateway({
    tls: true,
    config: {
      routes: [{ id: 'r', uri: '/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } }],
      ssls: [
        ssl('mtls', 'mtls.test', { ca: ca.cert }),
        ssl('open', 'open.test'),
        ssl('skip', 'skip.test', { ca: ca.cert, skip_mtls_uri_regex: ['^/public/'] }),
        ssl('deep', 'deep.test', { ca: ca.cert, depth: 2 }),
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

/** One request over TLS: the response's status line, or `refused` when the connection ends without one. */
function request(servername: string, opts: { cert?: string; key?: string; host?: string; path?: string } = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1', port: gw.httpsPort!, servername, ca: server.cert, cert: opts.cert, key: opts.key,
      checkServerIdentity: () => undefined,
    }, () => {
      socket.write(`GET ${opts.path ?? '/x'} HTTP/1.1\r\nHost: ${opts.host ?? servername}\r\nConnection: close\r\n\r\n`);
    });
    let out = '';
    socket.on('data', (c: Buffer) => { out += c.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(out === '' ? 'refused' : out.split('\r\n')[0]!));
  });
}

/** openssl s_client's handshake trace (`-state`) and summary for one server name. */
function handshakeTrace(servername: string): string {
  const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${gw.httpsPort}`, '-servername', servername, '-state'],
    { input: '', encoding: 'utf8', timeout: 20_000 });
  return `${r.stdout}\n${r.stderr}`;
}

test('a client certificate signed by the ssl object\'s CA gets through', async () => {
  assert.equal(await request('mtls.test', client), 'HTTP/1.1 200 OK');
});

test('without a client certificate the handshake is refused', async () => {
  assert.equal(await request('mtls.test'), 'refused');
});

test('a certificate from another CA is refused', async () => {
  const stranger = issueCert(otherCa, 'mallory');
  assert.equal(await request('mtls.test', stranger), 'refused');
});

test('a name whose ssl object has no client.ca does not ask for a certificate', async () => {
  assert.equal(await request('open.test'), 'HTTP/1.1 200 OK');
  assert.doesNotMatch(handshakeTrace('open.test'), /certificate request/i);
  const asked = handshakeTrace('skip.test');
  assert.match(asked, /read server certificate request/i);
  assert.match(asked, /clients-ca/, 'the CA list of the certificate request names the ssl object\'s CA');
});

test('a connection made for a name without mTLS cannot reach an mTLS name through its Host header', async () => {
  assert.equal(await request('open.test', { host: 'mtls.test' }), 'HTTP/1.1 400 Bad Request');
  assert.equal(await request('open.test', { ...client, host: 'mtls.test' }), 'HTTP/1.1 400 Bad Request');
});

test('skip_mtls_uri_regex lets matching paths through without a certificate; others get a 400', async () => {
  assert.equal(await request('skip.test', { path: '/public/a' }), 'HTTP/1.1 200 OK');
  assert.equal(await request('skip.test', { path: '/private' }), 'HTTP/1.1 400 Bad Request');
  assert.equal(await request('skip.test', { path: '/private', cert: otherCa.cert, key: otherCa.key }), 'HTTP/1.1 400 Bad Request');
  assert.equal(await request('skip.test', { ...client, path: '/private' }), 'HTTP/1.1 200 OK');
});

test('client.depth bounds the chain: an intermediate needs depth 2', async () => {
  assert.equal(await request('mtls.test', deepClient), 'refused');
  assert.equal(await request('deep.test', deepClient), 'HTTP/1.1 200 OK');
});
