import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { makeCert, type TestCert } from '../../helpers/certs.js';

let gw: Gateway;
let a: TestUpstream;
let certA: TestCert;
let certB: TestCert;
let certWild: TestCert;

function config(ssls: Record<string, unknown>[]) {
  return {
    routes: [{ id: 'r', uri: '/*', upstream: { nodes: { [`127.0.0.1:${a.port}`]: 1 } } }],
    ssls,
  };
}

before(async () => {
  a = await startUpstream('a');
  certA = makeCert(['a.test']);
  certB = makeCert(['b.test']);
  certWild = makeCert(['*.wild.test']);
  gw = await startGateway({
    tls: true,
    config: config([
      { id: 's1', snis: ['a.test'], cert: certA.cert, key: certA.key },
      { id: 's2', snis: ['b.test'], cert: certB.cert, key: certB.key },
      { id: 's3', snis: ['*.wild.test'], cert: certWild.cert, key: certWild.key },
    ]),
  });
});

after(async () => {
  await gw.stop();
  await a.close();
});

/** Handshakes with `servername`, sends one request, returns the peer certificate's CN and the response head. */
function fetchOverTls(servername: string | undefined, ca: string): Promise<{ cn: string; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: gw.httpsPort!, servername, ca, checkServerIdentity: () => undefined }, () => {
      const cn = String(socket.getPeerCertificate().subject.CN);
      socket.write(`GET /x HTTP/1.1\r\nHost: ${servername ?? 'x'}\r\nConnection: close\r\n\r\n`);
      let out = '';
      socket.on('data', (c) => { out += c.toString(); });
      socket.on('end', () => resolve({ cn, head: out.split('\r\n')[0]! }));
    });
    socket.on('error', reject);
  });
}

test('the certificate is chosen by SNI among several ssl objects', async () => {
  const ra = await fetchOverTls('a.test', certA.cert);
  assert.equal(ra.cn, 'a.test');
  assert.equal(ra.head, 'HTTP/1.1 200 OK');
  const rb = await fetchOverTls('b.test', certB.cert);
  assert.equal(rb.cn, 'b.test');
});

test('a wildcard certificate answers for its subdomains', async () => {
  const r = await fetchOverTls('api.wild.test', certWild.cert);
  assert.equal(r.cn, '*.wild.test');
  assert.equal(r.head, 'HTTP/1.1 200 OK');
});

test('an unknown server name fails the handshake when no default certificate is set', async () => {
  await assert.rejects(fetchOverTls('unknown.test', certA.cert));
  await assert.rejects(fetchOverTls(undefined, certA.cert));
});

test('certificates hot-swap with the config', async () => {
  const certA2 = makeCert(['a.test', 'new.test']);
  const from = gw.output().length;
  await gw.writeConfig(config([{ id: 's1', snis: ['a.test', 'new.test'], cert: certA2.cert, key: certA2.key }]));
  await gw.waitForOutput('reloaded', from).catch(() => undefined);
  let ok = false;
  for (let i = 0; i < 100 && !ok; i++) {
    ok = await fetchOverTls('new.test', certA2.cert).then(() => true, () => false);
    if (!ok) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(ok, 'the new certificate should serve new.test');
  await assert.rejects(fetchOverTls('b.test', certB.cert));
});
