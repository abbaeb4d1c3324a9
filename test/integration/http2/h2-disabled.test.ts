import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { makeCert, type TestCert } from '../../helpers/certs.js';
import { rawH2c } from '../../helpers/h2.js';

// `node.http2.enabled: false`: HTTP/1.1 only, on both kinds of listener.

let gw: Gateway;
let up: TestUpstream;
let cert: TestCert;

before(async () => {
  up = await startUpstream('h1-only');
  cert = makeCert(['h1.test']);
  gw = await startGateway({
    tls: true,
    node: { http2: { enabled: false } },
    config: {
      routes: [{ id: 'r', uri: '/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } }],
      ssls: [{ id: 's', snis: ['h1.test'], cert: cert.cert, key: cert.key }],
    },
  });
});

after(async () => {
  await gw.stop();
  await up.close();
});

test('ALPN settles on http/1.1 when h2 is offered first', async () => {
  const protocol = await new Promise<string | false | null>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: gw.httpsPort!, servername: 'h1.test', ca: cert.cert, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      resolve(socket.alpnProtocol);
      socket.destroy();
    });
    socket.on('error', reject);
  });
  assert.equal(protocol, 'http/1.1');
});

test('the h2c preface is an HTTP/1.1 request of an unsupported version: 505', async () => {
  const raw = await rawH2c(gw.httpPort);
  const answer = await new Promise<string>((resolve) => {
    let text = '';
    raw.socket.on('data', (c: Buffer) => { text += c.toString('latin1'); });
    raw.socket.on('close', () => resolve(text));
  });
  assert.match(answer, /^HTTP\/1\.1 505 /);
});
