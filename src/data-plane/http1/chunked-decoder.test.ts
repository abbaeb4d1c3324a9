import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedDecoder, type ChunkedDecoderLimits } from './chunked-decoder.js';

interface Outcome {
  data: string;
  /** Total bytes consumed over all feeds (-1 once an error was returned). */
  consumed: number;
  done: boolean;
  error: string | undefined;
  /** Every onData argument was a view of the fed buffer (no copies) and non-empty. */
  views: boolean;
}

/** Feeds `input` split at the given cut points; stops at the end of the body or an error. */
function decode(input: Buffer | string, cuts: number[] = [], limits?: ChunkedDecoderLimits): Outcome {
  const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const decoder = new ChunkedDecoder(limits);
  const parts: Buffer[] = [];
  let views = true;
  let consumed = 0;
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < buf.length).sort((a, b) => a - b), buf.length];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const piece = buf.subarray(bounds[k], bounds[k + 1]);
    if (piece.length === 0) continue;
    const used = decoder.feed(piece, (data) => {
      if (data.length === 0 || data.buffer !== piece.buffer || data.byteOffset < piece.byteOffset || data.byteOffset + data.length > piece.byteOffset + piece.length) {
        views = false;
      }
      parts.push(data);
    });
    if (used === -1) {
      assert.equal(typeof decoder.error, 'string');
      return { data: Buffer.concat(parts).toString('latin1'), consumed: -1, done: decoder.done, error: decoder.error, views };
    }
    assert.ok(used >= 0 && used <= piece.length);
    consumed += used;
    if (decoder.done) {
      assert.equal(decoder.feed(Buffer.from('more'), () => assert.fail('data after done')), 0, 'nothing more belongs to the body');
      break;
    }
    assert.equal(used, piece.length, 'a body that has not ended consumes everything');
  }
  return { data: Buffer.concat(parts).toString('latin1'), consumed, done: decoder.done, error: decoder.error, views };
}

function byteByByte(input: string, limits?: ChunkedDecoderLimits): Outcome {
  return decode(input, Array.from({ length: input.length }, (_, k) => k), limits);
}

function accepts(input: string, data: string, limits?: ChunkedDecoderLimits): void {
  for (const r of [decode(input, [], limits), byteByByte(input, limits)]) {
    assert.equal(r.error, undefined, JSON.stringify(input));
    assert.equal(r.done, true, JSON.stringify(input));
    assert.equal(r.data, data);
    assert.equal(r.consumed, input.length);
    assert.ok(r.views);
  }
}

function rejects(input: string, pattern: RegExp, limits?: ChunkedDecoderLimits): void {
  for (const r of [decode(input, [], limits), byteByByte(input, limits)]) {
    assert.equal(r.consumed, -1, `accepted: ${JSON.stringify(input)}`);
    assert.equal(r.done, false);
    assert.match(r.error ?? '', pattern, JSON.stringify(input));
  }
}

// ------------------------------------------------------------------------------------------

test('a simple chunked body', () => {
  accepts('5\r\nhello\r\n0\r\n\r\n', 'hello');
  accepts('0\r\n\r\n', '');
  accepts('3\r\nabc\r\n4\r\ndefg\r\n1\r\nh\r\n0\r\n\r\n', 'abcdefgh');
});

test('chunk sizes are hex, either case, leading zeros allowed up to 16 digits', () => {
  accepts(`a\r\n${'x'.repeat(10)}\r\nA\r\n${'y'.repeat(10)}\r\n1F\r\n${'z'.repeat(31)}\r\n0\r\n\r\n`, 'x'.repeat(10) + 'y'.repeat(10) + 'z'.repeat(31));
  accepts('0000000000000005\r\nhello\r\n0000000000000000\r\n\r\n', 'hello');
  accepts('00\r\n\r\n', '');
});

test('chunk data may contain CR, LF and any byte', () => {
  accepts('6\r\n\r\n0\r\n\r\r\n0\r\n\r\n', '\r\n0\r\n\r');
  const all = Array.from({ length: 256 }, (_, k) => String.fromCharCode(k)).join('');
  accepts(`100\r\n${all}\r\n0\r\n\r\n`, all);
});

test('the body can end inside a buffer: the rest is the next request', () => {
  const body = '5\r\nhello\r\n0\r\n\r\n';
  const input = body + 'GET / HTTP/1.1\r\nHost: h\r\n\r\n';
  const decoder = new ChunkedDecoder();
  const out: string[] = [];
  const used = decoder.feed(Buffer.from(input, 'latin1'), (d) => out.push(d.toString('latin1')));
  assert.equal(used, body.length);
  assert.equal(decoder.done, true);
  assert.deepEqual(out, ['hello']);
  assert.equal(decoder.feed(Buffer.from('x'), () => assert.fail()), 0);
  // split anywhere: the total consumed is still exactly the body
  for (let cut = 1; cut < input.length; cut++) {
    const r = decode(input, [cut]);
    assert.equal(r.consumed, body.length, `cut ${cut}`);
    assert.equal(r.data, 'hello');
    assert.equal(r.done, true);
  }
});

test('a body ending exactly at the end of a buffer consumes all of it', () => {
  const decoder = new ChunkedDecoder();
  assert.equal(decoder.feed(Buffer.from('3\r\nabc\r\n0\r\n\r'), () => {}), 12);
  assert.equal(decoder.done, false);
  assert.equal(decoder.feed(Buffer.from('\n'), () => {}), 1);
  assert.equal(decoder.done, true);
});

test('chunk data is delivered as views of the input, not copies', () => {
  const buf = Buffer.from('5\r\nhello\r\n0\r\n\r\n');
  const seen: Buffer[] = [];
  new ChunkedDecoder().feed(buf, (d) => seen.push(d));
  assert.equal(seen.length, 1);
  assert.equal(seen[0].buffer, buf.buffer);
  assert.equal(seen[0].byteOffset, buf.byteOffset + 3);
  buf[3] = 0x48; // 'H'
  assert.equal(seen[0].toString(), 'Hello');
});

test('a chunk split across feeds is delivered in pieces that add up', () => {
  const decoder = new ChunkedDecoder();
  const out: string[] = [];
  const on = (d: Buffer): void => {
    out.push(d.toString());
  };
  assert.equal(decoder.feed(Buffer.from('a\r\n01234'), on), 8);
  assert.equal(decoder.feed(Buffer.from('567'), on), 3);
  assert.equal(decoder.feed(Buffer.from('89\r\n0\r\n\r\nNEXT'), on), 9);
  assert.deepEqual(out, ['01234', '567', '89']);
  assert.equal(decoder.done, true);
});

test('an empty buffer is fine at any point', () => {
  const decoder = new ChunkedDecoder();
  assert.equal(decoder.feed(Buffer.alloc(0), () => assert.fail()), 0);
  assert.equal(decoder.feed(Buffer.from('1\r\nx'), () => {}), 4);
  assert.equal(decoder.feed(Buffer.alloc(0), () => assert.fail()), 0);
  assert.equal(decoder.done, false);
});

// ------------------------------------------------------------------------------------------
// extensions and trailers

test('chunk extensions are accepted and ignored', () => {
  accepts('5;name\r\nhello\r\n0\r\n\r\n', 'hello');
  accepts('5;name=value\r\nhello\r\n0\r\n\r\n', 'hello');
  accepts('5;a=1;b;c="x y;z"\r\nhello\r\n0;last=yes\r\n\r\n', 'hello');
  accepts('5 ;a\r\nhello\r\n0\t \t;b\r\n\r\n', 'hello');
  accepts('5;\x80\xff\r\nhello\r\n0\r\n\r\n', 'hello');
});

test('the chunk-size line (extensions included) is bounded by maxLineLength', () => {
  const line = '5;' + 'e'.repeat(98); // 100 bytes before CRLF
  accepts(`${line}\r\nhello\r\n0\r\n\r\n`, 'hello', { maxLineLength: 100 });
  rejects(`${line}e\r\nhello\r\n0\r\n\r\n`, /too long/, { maxLineLength: 100 });
  accepts(`5${' '.repeat(98)};\r\nhello\r\n0\r\n\r\n`, 'hello', { maxLineLength: 100 });
  rejects(`5${' '.repeat(99)};\r\nhello\r\n0\r\n\r\n`, /too long/, { maxLineLength: 100 });
  // the default is 4096
  accepts(`5;${'e'.repeat(4094)}\r\nhello\r\n0\r\n\r\n`, 'hello');
  rejects(`5;${'e'.repeat(4095)}\r\nhello\r\n0\r\n\r\n`, /too long/);
});

test('trailer fields are validated and ignored', () => {
  accepts('5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n', 'hello');
  accepts('0\r\nA: 1\r\nb:2\r\nC:\r\nD: \t x y \t\r\nE: \x80\xff\r\n\r\n', '');
  accepts("0\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n", '');
});

test('trailer lines are bounded by maxLineLength and the section by maxTrailerBytes', () => {
  const line = 'X: ' + 'v'.repeat(97); // 100 bytes before CRLF
  accepts(`0\r\n${line}\r\n\r\n`, '', { maxLineLength: 100 });
  rejects(`0\r\n${line}v\r\n\r\n`, /too long/, { maxLineLength: 100 });
  rejects(`0\r\n${'N'.repeat(101)}: v\r\n\r\n`, /too long/, { maxLineLength: 100 });
  // section: every trailer line with its CRLF; two lines of 100 + 2 bytes = 204
  accepts(`0\r\n${line}\r\n${line}\r\n\r\n`, '', { maxLineLength: 100, maxTrailerBytes: 204 });
  rejects(`0\r\n${line}\r\n${line}\r\n\r\n`, /trailer section too large/, { maxLineLength: 100, maxTrailerBytes: 203 });
  // many small lines add up (default 16384)
  const many = Array.from({ length: 2000 }, (_, k) => `T${k}: v\r\n`).join('');
  rejects(`0\r\n${many}\r\n`, /trailer section too large/);
});

// ------------------------------------------------------------------------------------------
// malformed input

test('chunk-size must be 1*HEXDIG', () => {
  rejects('\r\nhello\r\n0\r\n\r\n', /chunk size/);
  rejects(';a\r\nhello\r\n0\r\n\r\n', /chunk size/);
  rejects('g\r\n', /chunk size/);
  rejects('0x5\r\nhello\r\n0\r\n\r\n', /chunk size/);
  rejects('-5\r\nhello\r\n0\r\n\r\n', /chunk size/);
  rejects('+5\r\nhello\r\n0\r\n\r\n', /chunk size/);
  rejects(' 5\r\nhello\r\n0\r\n\r\n', /chunk size/);
  rejects('5 \r\nhello\r\n0\r\n\r\n', /chunk size/);
  rejects('5 x\r\nhello\r\n0\r\n\r\n', /chunk size/);
  rejects('5 5\r\nhello\r\n0\r\n\r\n', /chunk size/);
  rejects('5,\r\nhello\r\n0\r\n\r\n', /chunk size/);
});

test('chunk-size is bounded: at most 16 hex digits and at most 2^53-1', () => {
  rejects('00000000000000005\r\nhello\r\n0\r\n\r\n', /too long/);
  rejects('20000000000000\r\n', /too large/); // 2^53
  rejects('ffffffffffffffff\r\n', /too large/);
  rejects('10000000000000000\r\n', /too long|too large/);
  // 2^53-1 is a valid size: the line is accepted and data is awaited
  const decoder = new ChunkedDecoder();
  assert.equal(decoder.feed(Buffer.from('1fffffffffffff\r\nabc'), () => {}), 19);
  assert.equal(decoder.error, undefined);
});

test('chunk data must be followed by exactly CRLF', () => {
  rejects('5\r\nhelloX\r\n0\r\n\r\n', /CRLF after chunk data/);
  rejects('5\r\nhello\n0\r\n\r\n', /LF/);
  rejects('5\r\nhello\r0\r\n\r\n', /CR/);
  rejects('5\r\nhello0\r\n\r\n', /CRLF after chunk data/);
  rejects('5\r\nhello!\r\n0\r\n\r\n', /CRLF after chunk data/); // one byte more than declared
});

test('bare LF or bare CR in a framing line is an error', () => {
  rejects('5\nhello\r\n0\r\n\r\n', /LF/);
  rejects('5\rhello\r\n0\r\n\r\n', /CR/);
  rejects('5;a\nhello\r\n0\r\n\r\n', /LF/);
  rejects('5;a\rb\r\nhello\r\n0\r\n\r\n', /CR/);
  rejects('0\n\r\n', /LF/);
  rejects('0\r\n\n', /LF/);
  rejects('0\r\n\r\r', /CR/);
  rejects('0\r\n\rx', /CR/);
  rejects('0\r\nX: y\n\r\n', /LF/);
  rejects('0\r\nX: y\r\r\n', /CR/);
  rejects('0\r\nX\n', /LF/);
});

test('control bytes in extensions are an error', () => {
  rejects('5;a\x00\r\nhello\r\n0\r\n\r\n', /extension/);
  rejects('5;a\x7f\r\nhello\r\n0\r\n\r\n', /extension/);
  rejects('5;a\x1b\r\nhello\r\n0\r\n\r\n', /extension/);
});

test('malformed trailer lines are an error', () => {
  rejects('0\r\n X: y\r\n\r\n', /folding/);
  rejects('0\r\nX: y\r\n\tz\r\n\r\n', /folding/);
  rejects('0\r\nX y\r\n\r\n', /trailer field name/);
  rejects('0\r\nX : y\r\n\r\n', /trailer field name/);
  rejects('0\r\n: y\r\n\r\n', /trailer field name/);
  rejects('0\r\nNoColon\r\n\r\n', /trailer field name/);
  rejects('0\r\nX(: y\r\n\r\n', /trailer field name/);
  rejects('0\r\nX: a\x00b\r\n\r\n', /trailer field value/);
  rejects('0\r\nX: a\x7fb\r\n\r\n', /trailer field value/);
});

test('an error is sticky: every later feed returns -1', () => {
  const decoder = new ChunkedDecoder();
  assert.equal(decoder.feed(Buffer.from('zz\r\n'), () => {}), -1);
  const reason = decoder.error;
  assert.ok(reason);
  assert.equal(decoder.feed(Buffer.from('0\r\n\r\n'), () => assert.fail()), -1);
  assert.equal(decoder.error, reason);
  assert.equal(decoder.done, false);
});

test('data before an error in the same feed has been delivered; nothing after it', () => {
  const out: string[] = [];
  const decoder = new ChunkedDecoder();
  assert.equal(decoder.feed(Buffer.from('3\r\nabc\r\nxyz\r\n3\r\ndef\r\n'), (d) => out.push(d.toString())), -1);
  assert.deepEqual(out, ['abc']);
});

// ------------------------------------------------------------------------------------------
// property: seeded random bodies, random splits

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function randomBody(next: () => number): { encoded: string; data: string } {
  let encoded = '';
  let data = '';
  const chunks = Math.floor(next() * 6);
  for (let k = 0; k < chunks; k++) {
    const size = 1 + Math.floor(next() * 40);
    let chunk = '';
    for (let j = 0; j < size; j++) chunk += String.fromCharCode(Math.floor(next() * 256));
    let hex = size.toString(16);
    if (next() < 0.3) hex = hex.toUpperCase();
    if (next() < 0.2) hex = '00' + hex;
    const ext = next() < 0.3 ? ';x=' + Math.floor(next() * 1000) + (next() < 0.5 ? ';flag' : '') : '';
    encoded += `${hex}${ext}\r\n${chunk}\r\n`;
    data += chunk;
  }
  encoded += next() < 0.3 ? '0;end\r\n' : '0\r\n';
  const trailers = Math.floor(next() * 3);
  for (let k = 0; k < trailers; k++) encoded += `T-${k}: ${'v'.repeat(Math.floor(next() * 10))}\r\n`;
  encoded += '\r\n';
  return { encoded, data };
}

function randomCuts(next: () => number, length: number): number[] {
  const cuts: number[] = [];
  const n = Math.floor(next() * 8);
  for (let k = 0; k < n; k++) cuts.push(Math.floor(next() * length));
  return cuts;
}

test('seeded random bodies: any split gives the same data and consumes exactly the body', () => {
  const next = lcg(20240601);
  for (let iteration = 0; iteration < 200; iteration++) {
    const { encoded, data } = randomBody(next);
    const input = encoded + (next() < 0.5 ? 'GET /next HTTP/1.1\r\n' : '');
    const whole = decode(input);
    assert.equal(whole.error, undefined);
    assert.equal(whole.done, true);
    assert.equal(whole.data, data);
    assert.equal(whole.consumed, encoded.length);
    const split = decode(input, randomCuts(next, input.length));
    assert.deepEqual(split, whole);
    if (iteration % 20 === 0) assert.deepEqual(byteByByte(input), whole);
  }
});

test('seeded random corruptions: the outcome does not depend on how the input is split', () => {
  const next = lcg(7);
  for (let iteration = 0; iteration < 200; iteration++) {
    const { encoded } = randomBody(next);
    const bytes = Buffer.from(encoded, 'latin1');
    const at = Math.floor(next() * bytes.length);
    bytes[at] = [0x0a, 0x0d, 0x20, 0x3b, 0x3a, 0x30, 0x7f, 0x00, 0x67][Math.floor(next() * 9)];
    const whole = decode(bytes);
    assert.deepEqual(decode(bytes, randomCuts(next, bytes.length)), whole);
    assert.deepEqual(decode(bytes, Array.from({ length: bytes.length }, (_, k) => k)), whole);
    if (whole.consumed === -1) assert.equal(whole.done, false);
    else assert.ok(whole.consumed <= bytes.length);
  }
});
