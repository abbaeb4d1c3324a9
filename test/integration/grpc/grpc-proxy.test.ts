import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { makeCert } from '../../helpers/certs.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { connectH2c } from '../../helpers/h2.js';
import { echoService, startEchoServer, type EchoReply, type EchoRequest, type EchoServer } from '../../helpers/grpc-echo.js';

// gRPC through the real gateway: grpc-js clients speak h2c to the plain listener, the
// gateway speaks HTTP/2 to grpc-js servers (h2c for scheme grpc, TLS for grpcs).

let gw: Gateway;
let plain: EchoServer;
let secure: EchoServer;
let downPort: number;
const Echo = echoService();
const clients: grpc.Client[] = [];

type Unary = (req: EchoRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r?: EchoReply) => void) => grpc.ClientUnaryCall;

function client(authority: string): grpc.Client & Record<string, unknown> {
  const c = new Echo(`127.0.0.1:${gw.httpPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority });
  clients.push(c);
  return c as grpc.Client & Record<string, unknown>;
}

interface UnaryResult { err: grpc.ServiceError | null; reply?: EchoReply; header?: grpc.Metadata; trailer?: grpc.Metadata }

function unary(c: grpc.Client & Record<string, unknown>, req: EchoRequest, md = new grpc.Metadata(), deadlineMs = 10_000): Promise<UnaryResult> {
  return new Promise((resolve) => {
    const out: UnaryResult = { err: null };
    const call = (c.Unary as Unary).call(c, req, md, { deadline: Date.now() + deadlineMs }, (err, reply) => {
      out.err = err;
      out.reply = reply;
    });
    call.on('metadata', (h: grpc.Metadata) => { out.header = h; });
    call.on('status', (s: grpc.StatusObject) => { out.trailer = s.metadata; resolve(out); });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  const cert = makeCert(['grpc-up.test']);
  plain = await startEchoServer('plain');
  secure = await startEchoServer('secure', cert);
  downPort = await freePort();
  const grpcUp = { scheme: 'grpc', nodes: { [`127.0.0.1:${plain.port}`]: 1 } };
  gw = await startGateway({
    extra: { log_dir: '.' },
    config: {
      consumers: [{ username: 'jack', plugins: { 'key-auth': { key: 'k1' } } }],
      routes: [
        { id: 'guarded', uri: '/echo.Echo/*', host: 'guarded.test', plugins: { 'key-auth': {} }, upstream: grpcUp },
        { id: 'tls', uri: '/echo.Echo/*', host: 'tls.test', upstream: { scheme: 'grpcs', nodes: { [`127.0.0.1:${secure.port}`]: 1 }, pass_host: 'rewrite', upstream_host: 'grpc-up.test' } },
        {
          id: 'retry', uri: '/echo.Echo/*', host: 'retry.test',
          upstream: { scheme: 'grpc', nodes: { [`127.0.0.1:${downPort}`]: 1, [`127.0.0.1:${plain.port}`]: 1 }, retries: 1 },
        },
        { id: 'down', uri: '/echo.Echo/*', host: 'down.test', upstream: { scheme: 'grpc', nodes: { [`127.0.0.1:${downPort}`]: 1 }, retries: 0 } },
        {
          id: 'plain', uri: '/echo.Echo/*', upstream: grpcUp,
          plugins: { prometheus: {}, 'file-logger': { path: 'grpc-access.log', log_format: { uri: '$request_uri', status: '$status', grpc: '$grpc_status', msg: '$http_x_client' } } },
        },
      ],
    },
  });
});

after(async () => {
  for (const c of clients) c.close();
  await gw?.stop();
  await plain?.close();
  await secure?.close();
});

test('unary: request and reply through, metadata both ways, trailers passed, grpc_status logged', async () => {
  const md = new grpc.Metadata();
  md.set('x-client', 'unary-1');
  const r = await unary(client('plain.test'), { message: 'hello' }, md);
  assert.equal(r.err, null);
  assert.deepEqual(r.reply, { message: 'hello', server: 'plain', metadata: 'unary-1' });
  assert.deepEqual(r.header?.get('x-server'), ['plain']);
  assert.deepEqual(r.trailer?.get('x-trailer'), ['Unary']);
  const entry = await logEntry(join(gw.dir, 'grpc-access.log'), 'msg', 'unary-1');
  assert.equal(entry.uri, '/echo.Echo/Unary');
  assert.equal(entry.status, 200);
  assert.equal(entry.grpc, '0');
});

test('an upstream error status and its message come through the trailers', async () => {
  const md = new grpc.Metadata();
  md.set('x-client', 'failing');
  const r = await unary(client('plain.test'), { message: 'boom', fail_code: grpc.status.NOT_FOUND }, md);
  assert.equal(r.err?.code, grpc.status.NOT_FOUND);
  assert.equal(r.err?.details, 'failed as asked: boom');
  assert.deepEqual(r.trailer?.get('x-trailer'), ['Unary']);
  const entry = await logEntry(join(gw.dir, 'grpc-access.log'), 'msg', 'failing');
  assert.equal(entry.grpc, String(grpc.status.NOT_FOUND));
  // prometheus counts the call by its grpc-status (apisix_http_status says 200)
  await eventually(async () => await metricValue(gw, 'gatehouse_grpc_status_total{code="5",route="plain",service=""}') >= 1);
});

test('server streaming, client streaming and bidi', async () => {
  const c = client('plain.test');
  const streamed = await new Promise<{ messages: string[]; trailer?: grpc.Metadata }>((resolve, reject) => {
    const messages: string[] = [];
    const call = (c.ServerStream as (r: EchoRequest) => grpc.ClientReadableStream<EchoReply>).call(c, { message: 's', count: 50 });
    call.on('data', (r: EchoReply) => messages.push(r.message));
    call.on('error', reject);
    call.on('status', (s: grpc.StatusObject) => resolve({ messages, trailer: s.metadata }));
  });
  assert.equal(streamed.messages.length, 50);
  assert.equal(streamed.messages[49], 's-49');
  assert.deepEqual(streamed.trailer?.get('x-trailer'), ['ServerStream']);

  const collected = await new Promise<EchoReply>((resolve, reject) => {
    const call = (c.ClientStream as (cb: (e: grpc.ServiceError | null, r?: EchoReply) => void) => grpc.ClientWritableStream<EchoRequest>)
      .call(c, (err, reply) => (err ? reject(err) : resolve(reply!)));
    for (const m of ['a', 'b', 'c']) call.write({ message: m });
    call.end();
  });
  assert.equal(collected.message, 'a,b,c');

  const echoed = await new Promise<string[]>((resolve, reject) => {
    const got: string[] = [];
    const call = (c.Bidi as () => grpc.ClientDuplexStream<EchoRequest, EchoReply>).call(c);
    // each message is sent once the previous answer came back: a real interleaved conversation
    const send = (i: number): void => { if (i < 5) call.write({ message: `m${i}` }); else call.end(); };
    call.on('data', (r: EchoReply) => { got.push(r.message); send(got.length); });
    call.on('error', reject);
    call.on('end', () => resolve(got));
    send(0);
  });
  assert.deepEqual(echoed, ['echo:m0', 'echo:m1', 'echo:m2', 'echo:m3', 'echo:m4']);
});

test('grpcs upstream (TLS, h2 by ALPN)', async () => {
  const r = await unary(client('tls.test'), { message: 'over tls' });
  assert.equal(r.err, null);
  assert.equal(r.reply?.server, 'secure');
  assert.deepEqual(r.trailer?.get('x-trailer'), ['Unary']);
});

interface RawAnswer { head: Record<string, unknown>; trailers: Record<string, unknown> | undefined; ms: number }

/** A slow Unary call from a raw HTTP/2 client, so nothing but the gateway enforces its `grpc-timeout` (grpc-js would cancel too). */
async function slowUnaryRaw(client: string, headFirst: boolean): Promise<RawAnswer> {
  const session = connectH2c(gw.httpPort);
  try {
    // EchoRequest { message: "slow", count: 0|1, delay_ms: 3000 } in one gRPC frame
    const proto = Buffer.from([0x0a, 4, ...Buffer.from('slow'), 0x10, headFirst ? 1 : 0, 0x18, 0xb8, 0x17]);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, proto.length]), proto]);
    const started = Date.now();
    return await new Promise<RawAnswer>((resolve, reject) => {
      const stream = session.request({
        ':method': 'POST', ':path': '/echo.Echo/Unary', ':authority': 'plain.test',
        'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m', 'x-client': client,
      });
      let head: Record<string, unknown> = {};
      let trailers: Record<string, unknown> | undefined;
      const timer = setTimeout(() => reject(new Error('no answer in 5 s')), 5000);
      stream.on('response', (h) => { head = h; });
      stream.on('trailers', (t) => { trailers = t; });
      stream.on('data', () => undefined);
      stream.on('close', () => { clearTimeout(timer); resolve({ head, trailers, ms: Date.now() - started }); });
      stream.end(frame);
    });
  } finally {
    session.close();
  }
}

test('grpc-timeout before the upstream answered: the call is cancelled, a trailers-only DEADLINE_EXCEEDED', async () => {
  const a = await slowUnaryRaw('deadline-1', false);
  assert.ok(a.ms < 2000);
  assert.equal(a.head[':status'], 200);
  assert.equal(a.head['grpc-status'], '4');
  assert.equal(a.trailers, undefined);
  assert.equal((await logEntry(join(gw.dir, 'grpc-access.log'), 'msg', 'deadline-1')).grpc, '4');
});

test('grpc-timeout after the upstream sent its head: DEADLINE_EXCEEDED in the trailers', async () => {
  const a = await slowUnaryRaw('deadline-2', true);
  assert.ok(a.ms < 2000);
  assert.equal(a.head[':status'], 200);
  assert.equal(a.head['x-server'], 'plain');
  assert.equal(a.trailers?.['grpc-status'], '4');
  assert.equal((await logEntry(join(gw.dir, 'grpc-access.log'), 'msg', 'deadline-2')).grpc, '4');
});

test('a grpc-js client with a deadline gets DEADLINE_EXCEEDED through the gateway', async () => {
  const c = client('plain.test');
  const r = await new Promise<UnaryResult>((resolve) => {
    const out: UnaryResult = { err: null };
    const call = (c.Unary as Unary).call(c, { message: 'slow', delay_ms: 3000 }, new grpc.Metadata(), { deadline: Date.now() + 300 }, (err) => { out.err = err; });
    call.on('status', () => resolve(out));
  });
  assert.equal(r.err?.code, grpc.status.DEADLINE_EXCEEDED);
});

test('an upstream that is down: UNAVAILABLE as a trailers-only answer', async () => {
  const r = await unary(client('down.test'), { message: 'x' });
  assert.equal(r.err?.code, grpc.status.UNAVAILABLE);
  assert.equal(r.err?.details, 'upstream connection refused');
});

test('a node that cannot be connected is retried on another (nothing was sent yet)', async () => {
  const c = client('retry.test');
  // round robin over both nodes: some of these start at the one that is down
  for (let i = 0; i < 4; i++) {
    const r = await unary(c, { message: `retry-${i}` });
    assert.equal(r.err, null);
    assert.equal(r.reply?.message, `retry-${i}`);
  }
});

test('plugins run on gRPC routes: key-auth from metadata, its 401 as UNAUTHENTICATED', async () => {
  const none = await unary(client('guarded.test'), { message: 'x' });
  assert.equal(none.err?.code, grpc.status.UNAUTHENTICATED);
  assert.match(none.err?.details ?? '', /API key/i);
  const md = new grpc.Metadata();
  md.set('apikey', 'k1');
  const ok = await unary(client('guarded.test'), { message: 'with key' }, md);
  assert.equal(ok.err, null);
  assert.equal(ok.reply?.message, 'with key');
});

test('no route: UNIMPLEMENTED; a gRPC route over HTTP/1.1: 426', async () => {
  const c = new grpc.Client(`127.0.0.1:${gw.httpPort}`, grpc.credentials.createInsecure());
  clients.push(c);
  const err = await new Promise<grpc.ServiceError | null>((resolve) => {
    c.makeUnaryRequest('/nope.Nope/Call', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (e) => resolve(e));
  });
  assert.equal(err?.code, grpc.status.UNIMPLEMENTED);
  const res = await fetch(`http://127.0.0.1:${gw.httpPort}/echo.Echo/Unary`, {
    method: 'POST', headers: { 'content-type': 'application/grpc', host: 'plain.test' }, body: Buffer.alloc(5),
  });
  assert.equal(res.status, 426);
  assert.match((await res.json() as { error_msg: string }).error_msg, /HTTP\/2/);
});
