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

test('a default certificate answers clients without SNI, protocols are configurable, and one object can carry RSA and ECDSA pairs', async () => {
  const rsa = makeCert(['dual.test']);
  const ec = makeCert(['dual.test'], { keyType: 'ec' });
  const gw2 = await startGateway({
    tls: true,
    node: { tls: { protocols: ['TLSv1.3'], default_ssl_id: 'dual' } },
    config: config([{ id: 'dual', snis: ['dual.test'], cert: rsa.cert, key: rsa.key, certs: [ec.cert], keys: [ec.key] }]),
  });
  try {
    const connect = (opts: tls.ConnectionOptions) => new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: gw2.httpsPort!, rejectUnauthorized: false, ...opts }, () => resolve(s));
      s.on('error', reject);
    });
    const noSni = await connect({});
    assert.equal(noSni.getPeerCertificate().subject.CN, 'dual.test');
    assert.equal(noSni.getProtocol(), 'TLSv1.3');
    noSni.destroy();
    // TLS 1.2 is refused for this certificate: the handshake fails or the connection is closed before any answer.
    const answer = await connect({ servername: 'dual.test', maxVersion: 'TLSv1.2' }).then((s) => new Promise<string>((resolve) => {
      let out = '';
      s.on('data', (c) => { out += c.toString(); });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
      s.write('GET /x HTTP/1.1\r\nHost: dual.test\r\n\r\n');
    }), () => '');
    assert.equal(answer, '');
    const ecdsa = await connect({ servername: 'dual.test', sigalgs: 'ecdsa_secp256r1_sha256' });
    assert.equal(ecdsa.getPeerCertificate().pubkey?.length, 65); // an uncompressed P-256 point
    ecdsa.destroy();
    const rsaOnly = await connect({ servername: 'dual.test', sigalgs: 'rsa_pss_rsae_sha256' });
    assert.ok((rsaOnly.getPeerCertificate().bits ?? 0) >= 2048);
    rsaOnly.destroy();
  } finally {
    await gw2.stop();
  }
});
