import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clearedCookie, MAX_COOKIE_BYTES, seal, sessionCookie, sessionKey, unseal, type CookieOptions } from './session-cookie.js';

const key = sessionKey('a-session-secret-of-32-characters');
const opts: CookieOptions = { name: 'session', path: '/', secure: true, httpOnly: true, sameSite: 'Lax' };
const now = 1_800_000_000;
const valueOf = (cookie: string): string => cookie.slice(cookie.indexOf('=') + 1, cookie.indexOf(';'));

test('a sealed session opens with the same key and cookie name only', () => {
  const data = { expires: now + 60, accessToken: 'at', user: { sub: 'alice' } };
  const sealed = seal(data, key, 'session');
  assert.deepEqual(unseal(sealed, key, 'session', now), data);
  assert.equal(unseal(sealed, sessionKey('another-secret-of-32-characters!'), 'session', now), undefined);
  assert.equal(unseal(sealed, key, 'other_cookie', now), undefined, 'the name is authenticated');
  assert.ok(!Buffer.from(sealed, 'base64url').toString('latin1').includes('alice'), 'the content is encrypted');
});

test('a tampered, truncated or expired session is no session', () => {
  const sealed = seal({ expires: now + 60 }, key, 'session');
  const bytes = Buffer.from(sealed, 'base64url');
  bytes[bytes.length - 20]! ^= 1;
  assert.equal(unseal(bytes.toString('base64url'), key, 'session', now), undefined);
  assert.equal(unseal(sealed.slice(0, 10), key, 'session', now), undefined);
  assert.equal(unseal('', key, 'session', now), undefined);
  assert.equal(unseal(sealed, key, 'session', now + 61), undefined);
});

test('the cookie carries the attributes and lasts until the session expires', () => {
  const cookie = sessionCookie({ expires: now + 600 }, key, { ...opts, domain: 'example.test' }, now);
  assert.match(cookie, /^session=[\w-]+; Path=\/; Max-Age=600; Domain=example.test; SameSite=Lax; Secure; HttpOnly$/);
  assert.equal(clearedCookie(opts), 'session=; Path=/; Max-Age=0; SameSite=Lax; Secure; HttpOnly');
});

test('a session too large for a cookie drops the userinfo, and fails when that is not enough', () => {
  const user = { blob: 'x'.repeat(MAX_COOKIE_BYTES) };
  const cookie = sessionCookie({ expires: now + 60, accessToken: 'at', user }, key, opts, now);
  assert.ok(cookie.length <= MAX_COOKIE_BYTES);
  const opened = unseal(valueOf(cookie), key, 'session', now)!;
  assert.equal(opened.accessToken, 'at');
  assert.equal(opened.user, undefined);
  assert.throws(() => sessionCookie({ expires: now + 60, accessToken: 'x'.repeat(MAX_COOKIE_BYTES) }, key, opts, now), /does not fit/);
});
