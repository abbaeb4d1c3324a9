import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { issueCert, makeCa, makeCert, type TestCa } from '../../helpers/certs.js';
import { get } from '../../helpers/http.js';

// The gateway presents a client certificate to https upstreams: upstream `tls.client_cert`
// + `tls.client_key`, or `tls.client_cert_id` naming an ssl object of type client.

let gw: Gateway;
let up: TestUpstream;
let ca: TestCa;
let alice: TestCa;
let bob: TestCa;
let stranger: TestCa;

before(async () => {
  ca = makeCa('upstream-clients-ca');
  alice = issueCert(ca, 'alice');
  bob = issueCert(ca, 'bob');
  stranger = issueCert(makeCa('other-ca'), 'stranger');
  const server = makeCert(['localhost']);
  up = await startUpstream('mtls', { ...server, ca: ca.cert, requestCert: true, rejectUnauthorized: true });
  const nodes = { [`127.0.0.1:${up.port}`]: 1 };
  const upstream = (tls?: Record<string, unknown>) => ({ scheme: 'https', nodes, retries: 0, tls });
  gw = await startGateway({
    config: {
      ssls: [
        { id: 'bob-cert', type: 'client', cert: bob.cert, key: bob.key },
      ],
      upstreams: [{ id: 'by-ref', ...upstream({ client_cert_id: 'bob-cert' }) }],
      routes: [
        { id: 'inline', uri: '/inline', upstream: upstream({ client_cert: alice.cert, client_key: alice.key }) },
        { id: 'inline-other', uri: '/inline-other', upstream: upstream({ client_cert: bob.cert, client_key: bob.key }) },
        { id: 'by-ref', uri: '/by-ref', upstream_id: 'by-ref' },
        { id: 'none', uri: '/none', upstream: upstream() },
        { id: 'untrusted', uri: '/untrusted', upstream: upstream({ client_cert: stranger.cert, client_key: stranger.key }) },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

test('an inline client certificate is presented to an upstream that requires one', async () => {
  const r = await get(gw.url + '/inline');
  assert.equal(r.status, 200);
  assert.equal(r.json().client_cn, 'alice');
});

test('pools are keyed by the certificate: two upstreams on one node present their own', async () => {
  assert.equal((await get(gw.url + '/inline-other')).json().client_cn, 'bob');
  assert.equal((await get(gw.url + '/inline')).json().client_cn, 'alice');
});

test('tls.client_cert_id presents the ssl object of type client it names', async () => {
  const r = await get(gw.url + '/by-ref');
  assert.equal(r.status, 200);
  assert.equal(r.json().client_cn, 'bob');
});

test('without a client certificate, or with one the upstream does not trust, the answer is 502', async () => {
  assert.equal((await get(gw.url + '/none')).status, 502);
  assert.equal((await get(gw.url + '/untrusted')).status, 502);
});

test('a changed client certificate object is used by the next requests', async () => {
  const carol = issueCert(ca, 'carol');
  await gw.writeConfig({
    ssls: [{ id: 'bob-cert', type: 'client', cert: carol.cert, key: carol.key }],
    upstreams: [{ id: 'by-ref', scheme: 'https', nodes: { [`127.0.0.1:${up.port}`]: 1 }, retries: 0, tls: { client_cert_id: 'bob-cert' } }],
    routes: [{ id: 'by-ref', uri: '/by-ref', upstream_id: 'by-ref' }],
  });
  let cn: string | undefined;
  for (let i = 0; i < 100 && cn !== 'carol'; i++) {
    cn = (await get(gw.url + '/by-ref')).json().client_cn;
    if (cn !== 'carol') await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(cn, 'carol');
});
