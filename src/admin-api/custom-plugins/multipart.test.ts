import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { AdminError } from '../errors.js';
import { isMultipart, readMultipartForm, type MultipartLimits } from './multipart.js';

const BOUNDARY = 'gh-test-boundary';
const HEADERS = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
const LIMITS: MultipartLimits = { maxFileBytes: 100, tooLargeMessage: 'the .wasm file is larger than 100 bytes', fileField: 'file' };

type Part = { name: string; value: string | Buffer; filename?: string };
function form(parts: Part[]): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    const disp = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    const type = p.filename !== undefined ? 'Content-Type: application/wasm\r\n' : '';
    out.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${disp}\r\n${type}\r\n`), Buffer.from(p.value), Buffer.from('\r\n'));
  }
  out.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(out);
}

const status = (code: number, pattern: RegExp) => (e: unknown): boolean =>
  e instanceof AdminError && e.status === code && pattern.test(e.message);

describe('readMultipartForm', () => {
  it('recognises multipart/form-data only', () => {
    assert.equal(isMultipart(HEADERS), true);
    assert.equal(isMultipart({ 'content-type': 'application/json' }), false);
    assert.equal(isMultipart({}), false);
  });

  it('returns the text fields and the file bytes, whichever order they come in', async () => {
    const bytes = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    const got = await readMultipartForm(Readable.from([form([
      { name: 'file', value: bytes, filename: 'p.wasm' }, { name: 'stage', value: 'default' }, { name: 'priority', value: '10' },
    ])]), HEADERS, LIMITS);
    assert.deepEqual(Object.fromEntries(got.fields), { stage: 'default', priority: '10' });
    assert.deepEqual(got.file?.bytes, bytes);
    assert.equal(got.file?.filename, 'p.wasm');
  });

  it('reads a body that arrives in many small chunks', async () => {
    const body = form([{ name: 'name', value: 'x' }, { name: 'file', value: Buffer.alloc(90, 7), filename: 'p.wasm' }]);
    const chunks = [];
    for (let i = 0; i < body.length; i += 7) chunks.push(body.subarray(i, i + 7));
    const got = await readMultipartForm(Readable.from(chunks), HEADERS, LIMITS);
    assert.equal(got.file?.bytes.length, 90);
  });

  it('refuses a declared Content-Length that cannot fit before reading anything', async () => {
    let read = false;
    const body = new Readable({ read() { read = true; this.push(null); } });
    await assert.rejects(readMultipartForm(body, { ...HEADERS, 'content-length': String(100 + 3 * 1024 * 1024) }, LIMITS),
      status(413, /larger than 100 bytes/));
    assert.equal(read, false);
  });

  it('cuts off a file that streams past the cap with 413', async () => {
    await assert.rejects(readMultipartForm(Readable.from([form([{ name: 'file', value: Buffer.alloc(101), filename: 'p.wasm' }])]), HEADERS, LIMITS),
      status(413, /larger than 100 bytes/));
  });

  it('refuses a repeated field, a second file, a file under another name and a file sent as text', async () => {
    const f = { name: 'file', value: Buffer.alloc(1), filename: 'p.wasm' };
    await assert.rejects(readMultipartForm(Readable.from([form([{ name: 'a', value: '1' }, { name: 'a', value: '2' }])]), HEADERS, LIMITS),
      status(400, /field a is given twice/));
    await assert.rejects(readMultipartForm(Readable.from([form([f, f])]), HEADERS, LIMITS), status(400, /only one file/));
    await assert.rejects(readMultipartForm(Readable.from([form([{ ...f, name: 'upload' }])]), HEADERS, LIMITS),
      status(400, /unexpected file field upload/));
    await assert.rejects(readMultipartForm(Readable.from([form([{ name: 'file', value: 'abc' }])]), HEADERS, LIMITS),
      status(400, /field file must be a file part/));
  });

  it('refuses a field over the field size and a content type without boundary', async () => {
    await assert.rejects(readMultipartForm(Readable.from([form([{ name: 'configuration', value: 'x'.repeat(50) }])]), HEADERS,
      { ...LIMITS, maxFieldBytes: 10 }), status(400, /field configuration is longer than 10 bytes/));
    await assert.rejects(readMultipartForm(Readable.from([Buffer.alloc(0)]), { 'content-type': 'multipart/form-data' }, LIMITS),
      status(400, /invalid multipart body/));
  });
});
