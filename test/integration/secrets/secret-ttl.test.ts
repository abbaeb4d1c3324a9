import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { startVaultPeer, type VaultPeer } from '../../fixtures/vault-kv.js';
import { get } from '../../helpers/http.js';

let gw: Gateway | undefined;
let up: TestUpstream | undefined;
let vault: VaultPeer | undefined;
after(async () => {
  await gw?.stop();
  await up?.close();
  await vault?.close();
});

async function statusWith(key: string): Promise<number> {
  return (await get(gw!.url + '/ka', { headers: { apikey: key } })).status;
}

test('a value rotated in Vault is picked up when node.secrets.ttl expires, with no config change', async () => {
  vault = await startVaultPeer('tok');
  vault.put('kv/jack', { key: 'before-rotation' });
  up = await startUpstream('ttl-upstream');
  gw = await startGateway({
    node: { secrets: { ttl: 1, retry: 1 } },
    config: {
      secrets: [{ id: 'vault/1', uri: vault.uri, prefix: 'kv', token: 'tok' }],
      consumers: [{ username: 'jack', plugins: { 'key-auth': { key: '$secret://vault/1/jack/key' } } }],
      routes: [{ id: 'ka', uri: '/ka', plugins: { 'key-auth': {} }, upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } }],
    },
  });
  assert.equal(await statusWith('before-rotation'), 200);
  vault.put('kv/jack', { key: 'after-rotation' });
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    status = await statusWith('after-rotation');
    if (status !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 200);
  assert.equal(await statusWith('before-rotation'), 401);
});
