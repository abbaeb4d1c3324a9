import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { rawH2c, frame, hpack, rstStream, GET_FIELDS, FRAME, FLAG, connectH2c, h2Request, type RawH2 } from '../../helpers/h2.js';

// The known HTTP/2 attacks, sent as raw frames over a real socket: each one ends with the
// attacker's session (or stream) refused, and the gateway goes on serving other clients.

const ENHANCE_YOUR_CALM = 0xb;
const REFUSED_STREAM = 0x7;
const PROTOCOL_ERROR = 0x1;

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  up = await startUpstream('h2-attack-up');
  gw = await startGateway({
    node: { http2: { max_concurrent_streams: 10, max_header_list_size: 8192, max_client_resets: 50, max_control_frames: 100 } },
    config: { routes: [{ id: 'r', uri: '/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } }] },
  });
});

after(async () => {
  await gw.stop();
  await up.close();
});

/** Opens a raw h2c connection and writes `frames` at once. */
async function attack(frames: Buffer[]): Promise<RawH2> {
  const raw = await rawH2c(gw.httpPort);
  raw.socket.write(Buffer.concat(frames));
  return raw;
}

async function stillServing(): Promise<void> {
  const session = connectH2c(gw.httpPort);
  try {
    assert.equal((await h2Request(session, { ':path': '/still-serving' })).status, 200);
  } finally {
    session.close();
  }
}

const headers = (id: number, path: string): Buffer => frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, id, hpack(GET_FIELDS(path)));

test('rapid reset (CVE-2023-44487): HEADERS + RST_STREAM past max_client_resets is GOAWAY ENHANCE_YOUR_CALM', async () => {
  const frames: Buffer[] = [];
  for (let i = 0; i < 200; i++) frames.push(headers(1 + 2 * i, '/slow?ms=3000'), rstStream(1 + 2 * i));
  const raw = await attack(frames);
  assert.equal(await raw.closed(5000), true);
  assert.equal(raw.goawayCode(), ENHANCE_YOUR_CALM);
  await gw.waitForOutput('rapid reset', 0, 5000);
  await stillServing();
});

test('CONTINUATION flood: an endless header block closes the session', async () => {
  const frames = [frame(FRAME.HEADERS, FLAG.END_STREAM, 1, hpack(GET_FIELDS('/')))];
  for (let i = 0; i < 1000; i++) frames.push(frame(FRAME.CONTINUATION, 0, 1, hpack([[`x-h${i}`, 'v'.repeat(50)]])));
  const raw = await attack(frames);
  assert.equal(await raw.closed(5000), true);
  assert.notEqual(raw.goawayCode(), undefined);
  await stillServing();
});

test('HPACK bomb: one large table entry referenced a thousand times resets the stream', async () => {
  const value = Buffer.alloc(4000, 118);
  // literal with incremental indexing (0x40), then 1000 one-byte references to it (dynamic index 62)
  const insert = Buffer.concat([Buffer.from([0x40, 5]), Buffer.from('x-bom'), Buffer.from([0x7f, ((4000 - 127) & 127) | 128, (4000 - 127) >> 7]), value]);
  const raw = await attack([frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1, Buffer.concat([hpack(GET_FIELDS('/')), insert, Buffer.alloc(1000, 0x80 | 62)]))]);
  await eventually(async () => raw.frames.some((f) => f.type === FRAME.RST_STREAM && f.streamId === 1));
  const reset = raw.frames.find((f) => f.type === FRAME.RST_STREAM && f.streamId === 1)!;
  assert.equal(reset.payload.readUInt32BE(0), ENHANCE_YOUR_CALM);
  assert.equal(raw.frames.some((f) => f.type === FRAME.HEADERS && f.streamId === 1), false);
  raw.socket.destroy();
  await stillServing();
});

test('a header list over max_header_list_size is answered 431, even from a client that never acknowledged SETTINGS', async () => {
  const block = hpack([...GET_FIELDS('/'), ['x-big', 'v'.repeat(12000)]]);
  const raw = await attack([frame(FRAME.HEADERS, FLAG.END_STREAM, 1, block.subarray(0, 8000)), frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, block.subarray(8000))]);
  await eventually(async () => raw.frames.some((f) => f.type === FRAME.HEADERS && f.streamId === 1));
  const head = raw.frames.find((f) => f.type === FRAME.HEADERS && f.streamId === 1)!;
  // HPACK static table index 8..14 are :status 200..500; 431 is sent as a literal with name index 8
  assert.match(head.payload.toString('latin1'), /431/);
  raw.socket.destroy();
  await stillServing();
});

test('a request with connection-specific fields (Connection, Upgrade) is malformed: the stream is reset, nothing proxied', async () => {
  const seen = up.seen.length;
  const raw = await attack([frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1, hpack([...GET_FIELDS('/upgrade-me'), ['connection', 'upgrade'], ['upgrade', 'websocket']]))]);
  await eventually(async () => raw.frames.some((f) => f.type === FRAME.RST_STREAM && f.streamId === 1));
  const reset = raw.frames.find((f) => f.type === FRAME.RST_STREAM && f.streamId === 1)!;
  assert.equal(reset.payload.readUInt32BE(0), PROTOCOL_ERROR);
  assert.equal(up.seen.slice(seen).some((r) => r.url === '/upgrade-me'), false);
  raw.socket.destroy();
});

test('SETTINGS and PING floods past max_control_frames are GOAWAY ENHANCE_YOUR_CALM', async () => {
  for (const type of [FRAME.SETTINGS, FRAME.PING]) {
    const frames: Buffer[] = [];
    for (let i = 0; i < 500; i++) frames.push(frame(type, 0, 0, type === FRAME.PING ? Buffer.alloc(8) : undefined));
    const raw = await attack(frames);
    assert.equal(await raw.closed(5000), true);
    assert.equal(raw.goawayCode(), ENHANCE_YOUR_CALM);
  }
  await stillServing();
});

test('streams past max_concurrent_streams are refused (REFUSED_STREAM), the others answered', async () => {
  const frames: Buffer[] = [];
  for (let i = 0; i < 15; i++) frames.push(headers(1 + 2 * i, '/slow?ms=300'));
  const raw = await attack(frames);
  await eventually(async () => raw.frames.filter((f) => f.type === FRAME.DATA && (f.flags & FLAG.END_STREAM) !== 0).length === 10);
  const refused = raw.frames.filter((f) => f.type === FRAME.RST_STREAM && f.payload.readUInt32BE(0) === REFUSED_STREAM);
  assert.equal(refused.length, 5);
  raw.socket.destroy();
});

test('the session advertises the configured limits', async () => {
  const session = connectH2c(gw.httpPort);
  await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
  assert.equal(session.remoteSettings.maxConcurrentStreams, 10);
  assert.equal(session.remoteSettings.maxHeaderListSize, 8192);
  assert.equal(session.remoteSettings.initialWindowSize, 65535);
  assert.equal(session.remoteSettings.maxFrameSize, 16384);
  assert.equal(session.remoteSettings.enablePush, false);
  // no extended CONNECT (RFC 8441): WebSocket over HTTP/2 is not offered
  assert.notEqual(session.remoteSettings.enableConnectProtocol, true);
  session.close();
});
