import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ECHO_MAX_BODY_BYTES, EchoUpstream, type EchoReply } from './echo-upstream.js';

describe('example echo upstream', () => {
  let echo: EchoUpstream;
  let base: string;
  before(async () => {
    echo = new EchoUpstream({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(await echo.listen()).port}`;
  });
  after(() => echo.close());

  it('answers with the method, path, query, headers and body it received, as JSON', async () => {
    const res = await fetch(`${base}/a/b?x=1&x=2&y=z`, { method: 'POST', headers: { 'x-demo': 'yes' }, body: '{"hi":1}' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const body = await res.json() as EchoReply;
    assert.equal(body.method, 'POST');
    assert.equal(body.uri, '/a/b?x=1&x=2&y=z');
    assert.equal(body.path, '/a/b');
    assert.deepEqual(body.args, { x: ['1', '2'], y: 'z' });
    assert.equal(body.headers['x-demo'], 'yes');
    assert.equal(body.body, '{"hi":1}');
    assert.equal(body.body_encoding, undefined);
    assert.equal(body.remote_addr, '127.0.0.1');
  });

  it('sends a body that is not UTF-8 as base64', async () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe]);
    const res = await fetch(`${base}/bin`, { method: 'PUT', body: bytes });
    const body = await res.json() as { body: string; body_encoding: string };
    assert.equal(body.body_encoding, 'base64');
    assert.deepEqual(Buffer.from(body.body, 'base64'), bytes);
  });

  it('refuses a body larger than its limit with 413', async () => {
    const res = await fetch(`${base}/big`, { method: 'POST', body: Buffer.alloc(ECHO_MAX_BODY_BYTES + 1, 97) });
    assert.equal(res.status, 413);
    await res.arrayBuffer();
  });
});
