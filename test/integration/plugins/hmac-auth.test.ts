import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGateway, startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { logEntry } from '../../helpers/observe.js';

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    consumers: [
      { username: 'alice', labels: { custom_id: 'a-1' }, plugins: { 'hmac-auth': { key_id: 'alice-k', secret_key: 'alice-secret' } } },
      { username: 'bob', credentials: [{ id: 'bob-cred', plugins: { 'hmac-auth': { key_id: 'bob-k', secret_key: 'bob-secret' } } }] },
      { username: 'guest' },
    ],
    routes: [
      { id: 'hm', uri: '/hm', upstream, plugins: { 'hmac-auth': { signed_headers: ['date', '@request-target'] }, 'file-logger': {
        path: 'hm.log', log_format: { uri: '$request_uri', key_id: '$hmac_auth_key_id', error: '$hmac_auth_error', consumer: '$consumer_name' },
      } } },
      { id: 'hide', uri: '/hide', upstream, plugins: { 'hmac-auth': { hide_credentials: true, allowed_algorithms: ['hmac-sha512'] } } },
      { id: 'body', uri: '/body', upstream, plugins: { 'hmac-auth': { validate_request_body: true } } },
      { id: 'anon', uri: '/anon', upstream, plugins: { 'hmac-auth': { anonymous_consumer: 'guest' } } },
    ],
  }), { extra: { log_dir: '.' } }));
});

after(() => stopWithUpstream(gw, up));

const put = (store: Gateway, path: string, body: unknown) => get(store.adminUrl + path, {
  method: 'PUT', headers: { 'X-API-KEY': store.adminKey, 'content-type': 'application/json' }, body: JSON.stringify(body),
});

function sign(keyId: string, secret: string, path: string, opts: { method?: string; algorithm?: string; date?: string; extra?: Record<string, string> } = {}) {
  const method = opts.method ?? 'GET';
  const algorithm = opts.algorithm ?? 'hmac-sha256';
  const date = opts.date ?? new Date().toUTCString();
  const names = ['@request-target', 'date', ...Object.keys(opts.extra ?? {})];
  const values: Record<string, string> = { date, ...opts.extra };
  let text = `${keyId}\n`;
  for (const n of names) text += n === '@request-target' ? `${n}: ${method} ${path}\n` : `${n}: ${values[n]}\n`;
  const signature = createHmac(algorithm.slice(5), secret).update(text).digest('base64');
  return {
    ...opts.extra,
    date,
    authorization: `Signature keyId="${keyId}",algorithm="${algorithm}",headers="${names.join(' ')}",signature="${signature}"`,
  };
}

test('a valid signature reaches the upstream as its consumer, with X-Consumer-* headers', async () => {
  const r = await get(gw.url + '/hm?x=1', { headers: sign('alice-k', 'alice-secret', '/hm?x=1') });
  assert.equal(r.status, 200);
  const seen = r.json().headers;
  assert.equal(seen['x-consumer-username'], 'alice');
  assert.equal(seen['x-consumer-custom-id'], 'a-1');
  assert.ok(seen.authorization.startsWith('Signature'), 'kept without hide_credentials');
});

test('a credential signs as its consumer and carries X-Credential-Identifier', async () => {
  const r = await get(gw.url + '/hm', { headers: sign('bob-k', 'bob-secret', '/hm') });
  assert.equal(r.status, 200);
  assert.equal(r.json().headers['x-consumer-username'], 'bob');
  assert.equal(r.json().headers['x-credential-identifier'], 'bob-cred');
});

test('refusals: 401 with the hmac challenge, and the upstream is not called', async () => {
  const seen = up.seen.length;
  const missing = await get(gw.url + '/hm');
  assert.equal(missing.status, 401);
  assert.deepEqual(missing.json(), { message: "client request can't be validated: missing Authorization header" });
  assert.equal(missing.headers['www-authenticate'], 'hmac realm="hmac"');
  const cases: Record<string, string>[] = [
    sign('alice-k', 'wrong-secret', '/hm'),
    sign('nobody', 'alice-secret', '/hm'),
    sign('alice-k', 'alice-secret', '/other'),
    sign('alice-k', 'alice-secret', '/hm', { date: new Date(Date.now() - 3_600_000).toUTCString() }),
    sign('alice-k', 'alice-secret', '/hm', { algorithm: 'hmac-md5' }),
  ];
  for (const headers of cases) {
    const r = await get(gw.url + '/hm', { headers });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json(), { message: "client request can't be validated" });
  }
  assert.equal(up.seen.length, seen);
});

test('signed_headers: a signature that leaves out a required part is refused and the reason logged', async () => {
  const from = gw.output().length;
  const date = new Date().toUTCString();
  const text = `alice-k\ndate: ${date}\n`;
  const signature = createHmac('sha256', 'alice-secret').update(text).digest('base64');
  const r = await get(gw.url + '/hm', { headers: { date, authorization: `Signature keyId="alice-k",algorithm="hmac-sha256",headers="date",signature="${signature}"` } });
  assert.equal(r.status, 401);
  await gw.waitForOutput(/expected header \\?"@request-target\\?" missing in signing/, from);
  await gw.waitForOutput(/hmac-auth exits with http status code 401/, from);
  assert.ok(!gw.output().slice(from).includes('alice-secret'), 'the secret is never logged');
});

test('allowed_algorithms and hide_credentials', async () => {
  assert.equal((await get(gw.url + '/hide', { headers: sign('alice-k', 'alice-secret', '/hide') })).status, 401);
  const r = await get(gw.url + '/hide', { headers: sign('alice-k', 'alice-secret', '/hide', { algorithm: 'hmac-sha512' }) });
  assert.equal(r.status, 200);
  assert.equal(r.json().headers.authorization, undefined);
});

test('validate_request_body: the Digest must match the body', async () => {
  const body = '{"order":1}';
  const digest = `SHA-256=${createHash('sha256').update(body).digest('base64')}`;
  const ok = await get(gw.url + '/body', { method: 'POST', body, headers: sign('alice-k', 'alice-secret', '/body', { method: 'POST', extra: { digest } }) });
  assert.equal(ok.status, 200);
  const bad = await get(gw.url + '/body', { method: 'POST', body: '{"order":2}', headers: sign('alice-k', 'alice-secret', '/body', { method: 'POST', extra: { digest } }) });
  assert.equal(bad.status, 401);
});

test('anonymous_consumer lets unsigned requests through as that consumer', async () => {
  const r = await get(gw.url + '/anon');
  assert.equal(r.status, 200);
  assert.equal(r.json().headers['x-consumer-username'], 'guest');
});

test('bad config is refused with a 400 naming the field', async () => {
  const writable = await startGateway({ store: 'sqlite' });
  try {
  const bad = await put(writable, '/routes/bad', { uri: '/bad', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { 'hmac-auth': { clock_skew: 0 } } });
  assert.equal(bad.status, 400);
  assert.match(bad.json().error_msg, /clock_skew/);
  const alg = await put(writable, '/routes/bad', { uri: '/bad', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { 'hmac-auth': { allowed_algorithms: ['md5'] } } });
  assert.equal(alg.status, 400);
  assert.match(alg.json().error_msg, /allowed_algorithms/);
  const consumer = await put(writable, '/consumers/carol', { username: 'carol', plugins: { 'hmac-auth': { key_id: 'c' } } });
  assert.equal(consumer.status, 400);
  assert.match(consumer.json().error_msg, /secret_key/);
  } finally {
    await writable.stop();
  }
});

test('secret_key is masked for Admin API viewers and kept in clear for admins', async () => {
  const adminKeys = [{ name: 'a', key: 'hmac-admin-key-0001', role: 'admin' as const }, { name: 'v', key: 'hmac-viewer-key-001', role: 'viewer' as const }];
  const writable = await startGateway({ store: 'sqlite', adminKeys });
  const read = (key: string) => get(writable.adminUrl + '/consumers/dave/credentials/d1', { headers: { 'X-API-KEY': key } });
  try {
    assert.equal((await put(writable, '/consumers/dave', { username: 'dave' })).status < 300, true);
    const created = await put(writable, '/consumers/dave/credentials/d1', { plugins: { 'hmac-auth': { key_id: 'dave-k', secret_key: 'dave-secret-in-clear' } } });
    assert.ok(created.status < 300, created.body);
    const viewer = await read('hmac-viewer-key-001');
    assert.equal(viewer.status, 200);
    assert.deepEqual(viewer.json().value.plugins['hmac-auth'], { key_id: 'dave-k', secret_key: '******' });
    assert.match((await read('hmac-admin-key-0001')).body, /dave-secret-in-clear/);
    assert.doesNotMatch(writable.output(), /dave-secret-in-clear/, 'never logged');
  } finally {
    await writable.stop();
  }
});

test('the access log shows the key_id that signed ($hmac_auth_key_id) or why not ($hmac_auth_error), never the secret', async () => {
  await get(gw.url + '/hm?log=ok', { headers: sign('alice-k', 'alice-secret', '/hm?log=ok') });
  await get(gw.url + '/hm?log=forged', { headers: sign('alice-k', 'guessed', '/hm?log=forged') });
  await get(gw.url + '/hm?log=none');
  const log = join(gw.dir, 'hm.log');
  const ok = await logEntry(log, 'uri', '/hm?log=ok');
  assert.deepEqual([ok.key_id, ok.error, ok.consumer], ['alice-k', null, 'alice']);
  const forged = await logEntry(log, 'uri', '/hm?log=forged');
  assert.deepEqual([forged.key_id, forged.error], [null, 'Invalid signature']);
  assert.equal((await logEntry(log, 'uri', '/hm?log=none')).error, 'missing Authorization header');
  const text = await readFile(log, 'utf8');
  assert.ok(!text.includes('alice-secret') && !gw.output().includes('alice-secret'), 'the secret is neither logged nor printed');
});
