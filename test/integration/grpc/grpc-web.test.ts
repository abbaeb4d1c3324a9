import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startEchoServer, type EchoServer } from '../../helpers/grpc-echo.js';
import { connectH2c } from '../../helpers/h2.js';

// APISIX's grpc-web plugin: gRPC-Web calls as a browser makes them (HTTP/1.1 fetch of a
// framed body) through the gateway to a real gRPC server; the trailers come back as the
// body's last frame.

let gw: Gateway;
let up: EchoServer;

before(async () => {
  up = await startEchoServer('web-up');
  gw = await startGateway({
    config: {
      routes: [{
        id: 'web', uri: '/grpc/web/*', plugins: { 'grpc-web': {} },
        upstream: { scheme: 'grpc', nodes: { [`127.0.0.1:${up.port}`]: 1 } },
      }],
    },
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

/** EchoRequest { message, delay_ms, fail_code } in one gRPC frame. */
function requestFrame(message: string, opts: { delayMs?: number; failCode?: number } = {}): Buffer {
  const parts = [Buffer.from([0x0a, message.length]), Buffer.from(message)];
  if (opts.delayMs !== undefined) parts.push(Buffer.from([0x18, opts.delayMs]));
  if (opts.failCode !== undefined) parts.push(Buffer.from([0x20, opts.failCode]));
  const proto = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(proto.length, 1);
  return Buffer.concat([head, proto]);
}

interface Frames { messages: Buffer[]; trailers: string | undefined }

function frames(body: Buffer): Frames {
  const out: Frames = { messages: [], trailers: undefined };
  for (let at = 0; at < body.length;) {
    const flag = body[at]!;
    const len = body.readUInt32BE(at + 1);
    const payload = body.subarray(at + 5, at + 5 + len);
    if ((flag & 0x80) !== 0) out.trailers = payload.toString();
    else out.messages.push(payload);
    at += 5 + len;
  }
  return out;
}

/** Field 1 (message) of an EchoReply. */
function replyMessage(proto: Buffer): string {
  assert.equal(proto[0], 0x0a);
  return proto.subarray(2, 2 + proto[1]!).toString();
}

function call(body: Buffer | string, contentType: string, method = 'POST'): Promise<Response> {
  return fetch(`http://127.0.0.1:${gw.httpPort}/grpc/web/echo.Echo/Unary`, {
    method, headers: { 'content-type': contentType, 'x-grpc-web': '1' }, body: method === 'POST' ? new Uint8Array(Buffer.from(body)) : undefined,
  });
}

test('binary gRPC-Web unary over HTTP/1.1: the reply frame, then the trailers frame; CORS headers', async () => {
  const res = await call(requestFrame('hello web'), 'application/grpc-web+proto');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/grpc-web+proto');
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.equal(res.headers.get('access-control-expose-headers'), 'grpc-message,grpc-status');
  const f = frames(Buffer.from(await res.arrayBuffer()));
  assert.equal(f.messages.length, 1);
  assert.equal(replyMessage(f.messages[0]!), 'hello web');
  assert.equal(f.trailers, 'grpc-status:0\r\ngrpc-message:OK\r\n');
});

test('grpc-web-text: base64 both ways', async () => {
  const res = await call(requestFrame('as text').toString('base64'), 'application/grpc-web-text');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/grpc-web-text');
  const text = await res.text();
  assert.match(text, /^[A-Za-z0-9+/]+=*$/);
  const f = frames(Buffer.from(text, 'base64'));
  assert.equal(replyMessage(f.messages[0]!), 'as text');
  assert.match(f.trailers ?? '', /^grpc-status:0\r\n/);
});

test('an upstream error: its status and message in the trailers frame, or in the head of a trailers-only answer', async () => {
  const inBody = await call(requestFrame('boom', { failCode: 5 }), 'application/grpc-web');
  assert.equal(inBody.status, 200);
  assert.equal(frames(Buffer.from(await inBody.arrayBuffer())).trailers,
    // grpc-message as the upstream sent it (percent-encoded)
    'grpc-status:5\r\ngrpc-message:failed%20as%20asked:%20boom\r\n');
  // a slow failing call sends no head before its status: trailers-only, no frame in the body
  const only = await call(requestFrame('late', { delayMs: 1, failCode: 7 }), 'application/grpc-web');
  assert.equal(only.headers.get('grpc-status'), '7');
  assert.equal((await only.arrayBuffer()).byteLength, 0);
});

test('gRPC-Web over HTTP/2 too (no HTTP trailers: they are in the body)', async () => {
  const session = connectH2c(gw.httpPort);
  try {
    const answer = await new Promise<{ body: Buffer; trailers: unknown }>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/grpc/web/echo.Echo/Unary', 'content-type': 'application/grpc-web' });
      const chunks: Buffer[] = [];
      let trailers: unknown;
      const timer = setTimeout(() => reject(new Error('no answer in 5 s')), 5000);
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('trailers', (t) => { trailers = t; });
      stream.on('close', () => { clearTimeout(timer); resolve({ body: Buffer.concat(chunks), trailers }); });
      stream.end(requestFrame('over h2'));
    });
    const f = frames(answer.body);
    assert.equal(replyMessage(f.messages[0]!), 'over h2');
    assert.match(f.trailers ?? '', /^grpc-status:0\r\n/);
    assert.equal(answer.trailers, undefined);
  } finally {
    session.close();
  }
});

test('preflight 204 with the CORS headers; other methods 405; a non-gRPC-Web body 400', async () => {
  const pre = await call('', 'application/grpc-web', 'OPTIONS');
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-methods'), 'POST');
  assert.equal(pre.headers.get('access-control-allow-headers'), 'content-type,x-grpc-web,x-user-agent');
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  assert.equal((await call('', 'application/grpc-web', 'GET')).status, 405);
  assert.equal((await call('{}', 'application/json')).status, 400);
  assert.equal((await call('***', 'application/grpc-web-text')).status, 400);
});
