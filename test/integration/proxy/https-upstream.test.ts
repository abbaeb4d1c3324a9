import { test, after } from 'node:test';
import assert from 'node:assert/strict';
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
