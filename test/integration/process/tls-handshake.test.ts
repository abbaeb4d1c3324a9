import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { readdirSync } from 'node:fs';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { makeCert, type TestCert } from '../../helpers/certs.js';

// Connections that never finish their TLS handshake must not hold a descriptor: a client
// closing before the handshake, or one stalling in it past `node.tls.handshake_timeout`.

let gw: Gateway;
let up: TestUpstream;
let cert: TestCert;

before(async () => {
  up = await startUpstream('a');
  cert = makeCert(['a.test']);
  gw = await startGateway({
    tls: true,
    node: { tls: { handshake_timeout: 1 } },
    config: {
      routes: [{ id: 'r', uri: '/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } }],
      ssls: [{ id: 's', snis: ['a.test'], cert: cert.cert, key: cert.key }],
    },
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

async function workerPid(): Promise<number> {
  const body = await (await fetch(`${gw.statusUrl}/status/ready`)).json() as { workers: { pid: number }[] };
  return body.workers[0]!.pid;
}

const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

function httpsStatus(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: gw.httpsPort!, servername: 'a.test', ca: cert.cert }, () => {
      s.write('GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
    });
    let out = '';
    s.on('data', (c: Buffer) => { out += c.toString(); });
    s.on('end', () => resolve(out.split('\r\n')[0]!));
    s.on('error', reject);
    s.setTimeout(5_000, () => s.destroy(new Error('no answer')));
  });
}

/** Opens a TCP connection to the TLS port; `then` runs once it is connected. Resolves when it is connected. */
function open(then: (s: net.Socket) => void): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect(gw.httpsPort!, '127.0.0.1', () => {
      then(s);
      resolve(s);
    });
    s.on('error', () => resolve(s));
  });
}

// The first bytes of a ClientHello: a handshake record announcing 512 bytes, of which only a few come.
const HALF_CLIENT_HELLO = Buffer.from('160301020001000' + '1fc0303' + '00'.repeat(20), 'hex');

test('connections closed or stalled before the handshake completes free their descriptors', { timeout: 120_000 }, async () => {
  assert.equal(await httpsStatus(), 'HTTP/1.1 200 OK');
  const pid = await workerPid();
  const baseline = openFds(pid);

  // 5,000 clients that connect and close without a byte, 200 at a time
  for (let batch = 0; batch < 25; batch++) {
    await Promise.all(Array.from({ length: 200 }, () => open((s) => s.end())));
  }
  // 500 that stall: half send nothing, half a truncated ClientHello
  const stalled = await Promise.all(Array.from({ length: 500 }, (_, i) =>
    open((s) => { if (i % 2 === 1) s.write(HALF_CLIENT_HELLO); })));

  // handshake_timeout is 1 s: every one of them is closed by the gateway, the stalled ones included
  await eventually(() => openFds(pid) <= baseline + 10, 200, 100);
  await eventually(() => stalled.every((s) => s.readableEnded || s.destroyed), 100, 100);
  for (const s of stalled) s.destroy();

  assert.equal(await httpsStatus(), 'HTTP/1.1 200 OK');
  assert.equal(await workerPid(), pid, 'the same worker kept serving');
});
