import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { startVaultPeer, type VaultPeer } from '../../fixtures/vault-kv.js';
import { get } from '../../helpers/http.js';
import { adminClient, type AdminCall } from '../admin/client.js';

// Secret references in plugin configs ($env://, $secret://vault/...), the secrets Admin
// resource, and that resolved values never show in the Admin API or the log.

const VAULT_TOKEN = 'vault-token-s3cr3t';
const VAULT_KEY = 'key-from-vault-9f2c';
const VAULT_V2_KEY = 'key-from-kv2-77aa';
const ENV_KEY = 'key-from-env-41d8';
const JSON_ENV_KEY = 'key-from-json-env-0b1e';
const SECRET_VALUES = [VAULT_TOKEN, VAULT_KEY, VAULT_V2_KEY, ENV_KEY, JSON_ENV_KEY];

let gw: Gateway;
let up: TestUpstream;
let vault: VaultPeer;
let admin: AdminCall;

before(async () => {
  vault = await startVaultPeer(VAULT_TOKEN);
  vault.put('kv/apisix/jack', { auth_key: VAULT_KEY });
  vault.put('secret/data/apps/lucy', { auth_key: VAULT_V2_KEY });
  up = await startUpstream('secrets-upstream');
  gw = await startGateway({
    store: 'sqlite',
    env: { GH_TEST_API_KEY: ENV_KEY, GH_TEST_JSON: JSON.stringify({ key: JSON_ENV_KEY }), GH_TEST_VAULT_TOKEN: VAULT_TOKEN },
  });
  admin = adminClient(gw);
  const put = async (path: string, body: unknown): Promise<void> => {
    const r = await admin('PUT', path, body);
    assert.ok(r.status === 200 || r.status === 201, `${path}: ${r.status} ${r.text}`);
  };
  await put('/secrets/vault/1', { uri: vault.uri, prefix: 'kv/apisix', token: VAULT_TOKEN });
  await put('/secrets/vault/kv2', { uri: vault.uri, prefix: 'secret/data/apps', token: '$env://GH_TEST_VAULT_TOKEN' });
  await put('/consumers', { username: 'jack', plugins: { 'key-auth': { key: '$secret://vault/1/jack/auth_key' } } });
  await put('/consumers', { username: 'lucy', plugins: { 'key-auth': { key: '$secret://vault/kv2/lucy/auth_key' } } });
  await put('/consumers', { username: 'rose', plugins: { 'key-auth': { key: '$env://GH_TEST_API_KEY' } } });
  await put('/consumers', { username: 'tom', plugins: { 'key-auth': { key: '$env://GH_TEST_JSON/key' } } });
  await put('/consumers', { username: 'ghost', plugins: { 'key-auth': { key: '$secret://vault/1/nobody/auth_key' } } });
  await put('/consumers', { username: 'unset', plugins: { 'key-auth': { key: '$env://GH_TEST_NOT_SET' } } });
  await put('/routes/ka', {
    uri: '/ka',
    plugins: { 'key-auth': {}, 'proxy-rewrite': { headers: { set: { 'x-consumer': '$consumer_name' } } } },
    upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } },
  });
  await waitFor(async () => (await get(gw.url + '/ka', { headers: { apikey: ENV_KEY } })).status === 200);
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await vault?.close();
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('condition not reached');
}

const consumerOf = async (key: string): Promise<string | number> => {
  const r = await get(gw.url + '/ka', { headers: { apikey: key } });
  return r.status === 200 ? String(r.json().headers['x-consumer']) : r.status;
};

test('key-auth keys come from $env://, $env://NAME/key (JSON), and Vault KV v1 and v2', async () => {
  assert.equal(await consumerOf(ENV_KEY), 'rose');
  assert.equal(await consumerOf(JSON_ENV_KEY), 'tom');
  assert.equal(await consumerOf(VAULT_KEY), 'jack');
  assert.equal(await consumerOf(VAULT_V2_KEY), 'lucy');
  assert.equal(await consumerOf('not-a-key'), 401);
  const tokens = new Set(vault.requests.map((r) => r.token));
  assert.deepEqual([...tokens], [VAULT_TOKEN], 'Vault is asked with X-Vault-Token (also when it comes from $env://)');
});

test('an unresolvable reference fails closed: the reference string itself is no key', async () => {
  assert.equal(await consumerOf('$secret://vault/1/nobody/auth_key'), 401);
  assert.equal(await consumerOf('$env://GH_TEST_NOT_SET'), 401);
  assert.equal(await consumerOf('$secret://vault/1/jack/auth_key'), 401);
  assert.equal(await consumerOf(''), 401);
  assert.match(gw.output(), /"id":"ghost".*secret reference cannot be resolved|secret reference cannot be resolved.*"id":"ghost"/);
  assert.match(gw.output(), /GH_TEST_NOT_SET is not set/);
});

test('the Admin API returns references, never resolved values; the Vault token is masked', async () => {
  const c = await admin('GET', '/consumers/jack');
  assert.equal(c.body.value.plugins['key-auth'].key, '$secret://vault/1/jack/auth_key');
  const s = await admin('GET', '/secrets/vault/1');
  assert.equal(s.status, 200);
  assert.equal(s.body.key, '/apisix/secrets/vault/1');
  assert.equal(s.body.value.token, '******');
  assert.equal(s.body.value.uri, vault.uri);
  const byEnv = await admin('GET', '/secrets/vault/kv2');
  assert.equal(byEnv.body.value.token, '$env://GH_TEST_VAULT_TOKEN', 'a reference holds no secret and is shown as written');
  const list = await admin('GET', '/secrets');
  assert.equal(list.body.total, 2);
  for (const call of [c, s, byEnv, list]) for (const v of SECRET_VALUES) assert.ok(!call.text.includes(v));
});

test('changing the secret object re-resolves; sending the masked token back keeps the stored one', async () => {
  const NEW_KEY = 'rotated-vault-key-5e6f';
  vault.put('kv/apisix/jack', { auth_key: NEW_KEY });
  const s = await admin('GET', '/secrets/vault/1');
  const { create_time: _c, update_time: _u, ...value } = s.body.value;
  const r = await admin('PUT', '/secrets/vault/1', { ...value, prefix: 'kv/apisix/' });
  assert.equal(r.status, 200, r.text);
  await waitFor(async () => (await consumerOf(NEW_KEY)) === 'jack');
  assert.equal(await consumerOf(VAULT_KEY), 401);
  assert.equal(vault.requests.at(-1)!.token, VAULT_TOKEN);
  assert.ok(!gw.output().includes(NEW_KEY));
});

test('secret managers other than vault are refused with a 400 naming them; bad bodies too', async () => {
  const aws = await admin('PUT', '/secrets/aws/1', { access_key_id: 'a', secret_access_key: 'b' });
  assert.equal(aws.status, 400);
  assert.match(aws.body.error_msg, /secret manager aws is not supported/);
  const unknown = await admin('PUT', '/secrets/nope/1', { uri: 'http://x' });
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.error_msg, /invalid secret manager: nope/);
  const missing = await admin('PUT', '/secrets/vault/2', { uri: vault.uri, prefix: 'kv' });
  assert.equal(missing.status, 400);
  assert.match(missing.body.error_msg, /token/);
  const masked = await admin('PUT', '/secrets/vault/3', { uri: vault.uri, prefix: 'kv', token: '******' });
  assert.equal(masked.status, 400);
});

test('the log never contains a resolved value or the Vault token', () => {
  const out = gw.output();
  for (const v of SECRET_VALUES) assert.ok(!out.includes(v), 'a secret value reached the log');
});
