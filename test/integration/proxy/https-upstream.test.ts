import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { startGateway } from '../../helpers/gateway.js';
import { startUpstream } from '../../fixtures/upstream.js';
import { makeCert } from '../../helpers/certs.js';
import { get } from '../../helpers/http.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

test('an upstream with scheme https is reached over TLS, and verify refuses an untrusted certificate', async () => {
  const cert = makeCert(['localhost']);
  const up = await startUpstream('secure', cert);
  cleanups.push(() => up.close());
  const nodes = { [`127.0.0.1:${up.port}`]: 1 };
  const gw = await startGateway({
    config: {
      routes: [
        { id: 'tls', uri: '/tls/*', upstream: { scheme: 'https', nodes } },
        { id: 'verify', uri: '/verify/*', upstream: { scheme: 'https', nodes, retries: 0, tls: { verify: true } } },
      ],
    },
  });
  cleanups.push(() => gw.stop());
  const r = await get(gw.url + '/tls/x');
  assert.equal(r.status, 200);
  assert.equal(r.json().tls, true);
  const v = await get(gw.url + '/verify/x');
  assert.equal(v.status, 502);
  assert.equal(v.json().error_msg, 'TLS handshake with upstream failed');
});

test('a client certificate is presented to the upstream: inline client_cert/client_key, or an ssl object by tls.client_cert_id', async () => {
  const serverCert = makeCert(['localhost']);
  const inline = makeCert(['inline-client']);
  const byId = makeCert(['ref-client']);
  // asks for a client certificate and answers with the CN it got (none: "-")
  const server = https.createServer({ ...serverCert, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    res.end(peer?.subject?.CN ?? '-');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const nodes = { [`127.0.0.1:${(server.address() as AddressInfo).port}`]: 1 };
  const gw = await startGateway({
    config: {
      ssls: [{ id: 'cc', type: 'client', cert: byId.cert, key: byId.key }],
      routes: [
        { id: 'none', uri: '/none', upstream: { scheme: 'https', nodes } },
        { id: 'inline', uri: '/inline', upstream: { scheme: 'https', nodes, tls: { client_cert: inline.cert, client_key: inline.key } } },
        { id: 'by-id', uri: '/by-id', upstream: { scheme: 'https', nodes, tls: { client_cert_id: 'cc' } } },
      ],
    },
  });
  cleanups.push(() => gw.stop());
  assert.equal((await get(gw.url + '/none')).body, '-');
  assert.equal((await get(gw.url + '/inline')).body, 'inline-client');
  assert.equal((await get(gw.url + '/by-id')).body, 'ref-client');
});
