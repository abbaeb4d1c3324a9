import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { makeCert } from '../../helpers/certs.js';

// Graceful quit (SIGTERM): stop accepting, close idle keep-alive connections at once, give
// requests in flight `node.drain_timeout`, then close what is left and exit.

const cleanups: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function start(drainTimeout: number): Promise<{ gw: Gateway; up: TestUpstream }> {
  const up = await startUpstream('a');
  cleanups.push(() => up.close());
  const cert = makeCert(['a.test']);
  const gw = await startGateway({
    tls: true,
    node: { drain_timeout: drainTimeout, tls: { handshake_timeout: 60 } },
    config: {
      routes: [
        { id: 'r', uri: '/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } },
        // answered by a plugin after 1 s, never proxied
        { id: 'local', uri: '/local', plugins: { 'fault-injection': { delay: { duration: 1 }, abort: { http_status: 200, body: 'answered locally' } } } },
      ],
      ssls: [{ id: 's', snis: ['a.test'], cert: cert.cert, key: cert.key }],
    },
  });
  cleanups.push(() => gw.stop());
  return { gw, up };
}

/** A client connection that records what it received and when it was closed. */
interface Client { socket: net.Socket; data: string; closed: Promise<number> }
function client(port: number, request?: string): Promise<Client> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const c: Client = {
      socket, data: '',
      closed: new Promise((res) => socket.once('close', () => res(Date.now()))),
    };
    socket.on('data', (d: Buffer) => { c.data += d.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      if (request !== undefined) socket.write(request);
      resolve(c);
    });
  });
}

const get = (path: string, connection = 'keep-alive'): string => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: ${connection}\r\n\r\n`;
const within = <T>(p: Promise<T>, ms: number): Promise<T | 'still waiting'> =>
  Promise.race([p, new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), ms).unref())]);

test('quit closes idle connections at once, gives a slow request drain_timeout, then exits', { timeout: 60_000 }, async () => {
  const { gw, up } = await start(2);
  const idle = await client(gw.httpPort, get('/idle'));
  await eventually(() => idle.data.includes('\r\n\r\n') && idle.data.endsWith('}'), 100, 50);
  const handshaking = await client(gw.httpsPort!); // a TLS client that never says hello
  const slow = await client(gw.httpPort, get('/slow?ms=60000'));
  await eventually(() => up.seen.some((r) => r.url.startsWith('/slow')), 100, 50);

  gw.signal('SIGTERM');
  const idleClosed = await within(idle.closed, 1_500);
  assert.notEqual(idleClosed, 'still waiting', 'the idle keep-alive connection is closed at once');
  // drain_timeout 2 s: the slow request is cut off then, and the gateway exits (bound generous against load)
  assert.notEqual(await within(gw.exited, 10_000), 'still waiting', 'the gateway exited');
  assert.notEqual(await within(slow.closed, 1_000), 'still waiting');
  assert.equal(slow.data, '', 'the slow request got no answer: it was closed at the drain deadline');
  assert.ok((await slow.closed) >= (idleClosed as number));
  assert.notEqual(await within(handshaking.closed, 1_000), 'still waiting');
  // the worker finished its drain itself: nothing (a socket in its TLS handshake included) held it until the primary's kill
  assert.match(gw.output(), /"code":0,"signal":null,"msg":"worker stopped"/);
  assert.doesNotMatch(gw.output(), /still running after the drain/);
});

test('a request that finishes within drain_timeout is answered before the gateway exits', { timeout: 60_000 }, async () => {
  const { gw, up } = await start(10);
  const slow = await client(gw.httpPort, get('/slow?ms=1000'));
  await eventually(() => up.seen.some((r) => r.url.startsWith('/slow')), 100, 50);
  gw.signal('SIGTERM');
  await slow.closed;
  assert.match(slow.data, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(slow.data, /slow 1000$/);
  // it closed after its response: the connection is not kept during a drain
  assert.match(slow.data, /\r\nconnection: close\r\n/i);
  assert.notEqual(await within(gw.exited, 10_000), 'still waiting', 'the gateway exited once its last request was done');
  assert.match(gw.output(), /"code":0,"signal":null,"msg":"worker stopped"/);
});

test('a request a plugin is still working on is answered before the gateway exits', { timeout: 60_000 }, async () => {
  const { gw } = await start(10);
  const local = await client(gw.httpPort, get('/local'));
  await new Promise((r) => setTimeout(r, 300));
  gw.signal('SIGTERM');
  await local.closed;
  assert.match(local.data, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(local.data, /answered locally$/);
  assert.notEqual(await within(gw.exited, 10_000), 'still waiting', 'the gateway exited');
});
