import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import hmacAuth, { MAX_SIGNED_PARTS, parseSignatureHeader, signingString } from './hmac-auth.js';
import { consumer, createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

const alice = consumer('alice', { 'hmac-auth': [hmacAuth, { key_id: 'ak', secret_key: 'as' }] });
const consumers = [alice];

test('schema: defaults, field errors, consumer schema requires key_id and secret_key', () => {
  const p = prepareWith(hmacAuth, {}, { consumers });
  assert.deepEqual([...p.algorithms], ['hmac-sha1', 'hmac-sha256', 'hmac-sha512']);
  assert.equal(p.clockSkewMs, 300_000);
  assert.deepEqual(p.signedHeaders, ['date']);
  assert.equal(p.challenge, 'hmac realm="hmac"');
  assert.match(schemaError(hmacAuth.schema, { allowed_algorithms: [] })!, /allowed_algorithms/);
  assert.match(schemaError(hmacAuth.schema, { clock_skew: 0 })!, /clock_skew/);
  assert.match(schemaError(hmacAuth.schema, { signed_headers: ['x'.repeat(51)] })!, /signed_headers/);
  assert.match(schemaError(hmacAuth.schema, { nope: 1 })!, /nope/);
  assert.match(schemaError(hmacAuth.consumerSchema, { key_id: 'k' })!, /secret_key/);
  assert.equal(schemaError(hmacAuth.consumerSchema, { key_id: 'k', secret_key: 's' }), undefined);
});

test('the Authorization value is parsed with or without quotes; unknown parameters are ignored', () => {
  assert.deepEqual(parseSignatureHeader('Signature keyId="k",algorithm="hmac-sha256",headers="@request-target date",signature="c2ln"'),
    { keyId: 'k', algorithm: 'hmac-sha256', headers: ['@request-target', 'date'], signature: 'c2ln' });
  assert.deepEqual(parseSignatureHeader('Signature keyId=k, signature=s, extra="x"'), { keyId: 'k', signature: 's', headers: [] });
});

test('the signing string: keyId line, then the listed parts in order; absent headers are skipped', () => {
  const headers: Record<string, string> = { date: 'D', 'x-a': '1' };
  assert.equal(signingString('k', ['x-a', '@request-target', 'missing', 'Date'], 'POST', '/p?q=1', (n) => headers[n]),
    'k\nx-a: 1\n@request-target: POST /p?q=1\nDate: D\n');
  assert.equal(signingString('k', ['@request-target'], 'GET', '', () => undefined), 'k\n@request-target: GET /\n');
});

test('a signed request identifies the consumer; a tampered one is refused with the generic message', async () => {
  const p = prepareWith(hmacAuth, {}, { consumers });
  const date = new Date().toUTCString();
  const signature = createHmac('sha256', 'as').update(`ak\ndate: ${date}\n`).digest('base64');
  const auth = `Signature keyId="ak",algorithm="hmac-sha256",headers="date",signature="${signature}"`;
  const ok = createTestContext({ headers: { date, authorization: auth } });
  assert.equal(await hmacAuth.rewrite!(p, ok), undefined);
  assert.equal(ok.attached[0], alice);
  const bad = createTestContext({ headers: { date, authorization: auth.replace('hmac-sha256', 'hmac-sha1') } });
  const r = await hmacAuth.rewrite!(p, bad);
  assert.equal(r?.status, 401);
  assert.deepEqual(r?.body, { message: "client request can't be validated" });
});

test('Date must be in GMT format and within clock_skew', async () => {
  const p = prepareWith(hmacAuth, { clock_skew: 10, signed_headers: [] }, { consumers });
  for (const date of ['yesterday', '2024-01-01T00:00:00Z', new Date(Date.now() - 60_000).toUTCString()]) {
    const signature = createHmac('sha256', 'as').update(`ak\ndate: ${date}\n`).digest('base64');
    const ctx = createTestContext({ headers: { date, authorization: `Signature keyId="ak",algorithm="hmac-sha256",headers="date",signature="${signature}"` } });
    assert.equal((await hmacAuth.rewrite!(p, ctx))?.status, 401, date);
  }
});

test('a signature over more than MAX_SIGNED_PARTS parts is refused before any hashing', async () => {
  const p = prepareWith(hmacAuth, { signed_headers: [] }, { consumers });
  const date = new Date().toUTCString();
  const names = Array(MAX_SIGNED_PARTS + 1).fill('date');
  const text = `ak\n${names.map(() => `date: ${date}\n`).join('')}`;
  const signature = createHmac('sha256', 'as').update(text).digest('base64');
  const ctx = createTestContext({ headers: { date, authorization: `Signature keyId="ak",algorithm="hmac-sha256",headers="${names.join(' ')}",signature="${signature}"` } });
  assert.equal((await hmacAuth.rewrite!(p, ctx))?.status, 401);
});
