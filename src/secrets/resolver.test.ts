import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigState } from '../config-store/state.js';
import type { StoredObject } from '../contracts/store.js';
import { SecretResolver } from './resolver.js';
import { readVaultField } from './vault.js';

/** A Vault-shaped KV peer for these tests: path → JSON body, or a status. */
async function kvPeer(answers: Map<string, unknown>): Promise<{ uri: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.url} ${String(req.headers['x-vault-token'])}`);
    const a = answers.get(req.url ?? '');
    if (typeof a === 'number') res.writeHead(a).end('{"errors":["boom s3cret-body"]}');
    else if (a === undefined) res.writeHead(404).end('{"errors":[]}');
    else res.end(JSON.stringify(a));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

function obj(kind: StoredObject['kind'], id: string, value: Record<string, unknown>, rev: number): StoredObject {
  return { kind, id, value, createdIndex: rev, modifiedIndex: rev };
}

test('KV v1 and v2 answers; errors never carry the answer body; ".." paths are refused', async () => {
  const peer = await kvPeer(new Map<string, unknown>([
    ['/v1/kv/app/jack', { data: { k: 'v1-value' } }],
    ['/v1/secret/data/app/jack', { data: { data: { k: 'v2-value' }, metadata: { version: 2 } } }],
    ['/v1/kv/app/down', 500],
  ]));
  try {
    const conf = { uri: peer.uri, prefix: 'kv/app', token: 't' };
    assert.equal(await readVaultField(conf, 't', 'jack', 'k'), 'v1-value');
    assert.equal(await readVaultField({ ...conf, prefix: 'secret/data/app/' }, 't', 'jack', 'k'), 'v2-value');
    await assert.rejects(readVaultField(conf, 't', 'down', 'k'), (e: Error) => e.message === 'vault answered 500');
    await assert.rejects(readVaultField(conf, 't', 'jack', 'missing'), /no string field missing/);
    await assert.rejects(readVaultField(conf, 't', '../sys/jack', 'k'), /"\.\."/);
    assert.ok(peer.hits.every((h) => h.endsWith(' t')));
  } finally {
    await peer.close();
  }
});

test('the view substitutes values, keeps object identity while they are unchanged, and fails closed', async () => {
  const answers = new Map<string, unknown>([['/v1/kv/jack', { data: { key: 'first' } }]]);
  const peer = await kvPeer(answers);
  const resolver = new SecretResolver({ ttlMs: 60_000, retryMs: 60_000, env: { E: 'from-env' }, onExpiry: () => undefined });
  try {
    const state = new ConfigState();
    state.set(obj('secrets', 'vault/1', { id: 'vault/1', uri: peer.uri, prefix: 'kv', token: 'tok' }, 1));
    state.set(obj('consumers', 'jack', { username: 'jack', plugins: { 'key-auth': { key: '$secret://vault/1/jack/key' } } }, 2));
    state.set(obj('consumers', 'rose', { username: 'rose', plugins: { 'key-auth': { key: '$env://E' } } }, 3));
    state.set(obj('consumers', 'ghost', { username: 'ghost', plugins: { 'key-auth': { key: '$secret://vault/9/x/key' } } }, 4));
    state.set(obj('consumers', 'plain', { username: 'plain', plugins: { 'key-auth': { key: 'k' } } }, 5));
    await resolver.prepare(state);
    const keyOf = (v: ReturnType<typeof resolver.view>, id: string): unknown =>
      ((v.get('consumers', id)!.value.plugins as Record<string, Record<string, unknown>>)['key-auth']!).key;
    const v1 = resolver.view(state);
    assert.equal(keyOf(v1, 'jack'), 'first');
    assert.equal(keyOf(v1, 'rose'), 'from-env');
    const ghostKey = keyOf(v1, 'ghost') as string;
    assert.match(ghostKey, /^[0-9a-f]{64}$/, 'an unresolved reference becomes an unguessable value');
    assert.equal(v1.get('consumers', 'plain'), state.get('consumers', 'plain'), 'objects without references pass as they are');

    await resolver.prepare(state);
    const v2 = resolver.view(state);
    assert.equal(v2.get('consumers', 'jack'), v1.get('consumers', 'jack'), 'same values, same object');
    assert.equal(keyOf(v2, 'ghost'), ghostKey, 'the stand-in is stable while the reference stays unresolved');
    assert.equal(v2.secretGeneration, v1.secretGeneration);
    assert.equal(peer.hits.length, 1, 'cached within the TTL');

    // a changed secret object is fetched again
    answers.set('/v1/kv/jack', { data: { key: 'second' } });
    state.set(obj('secrets', 'vault/1', { id: 'vault/1', uri: peer.uri, prefix: 'kv', token: 'tok' }, 6));
    await resolver.prepare(state);
    const v3 = resolver.view(state);
    assert.equal(keyOf(v3, 'jack'), 'second');
    assert.notEqual(v3.secretGeneration, v1.secretGeneration);
  } finally {
    resolver.close();
    await peer.close();
  }
});

test('an expired value is fetched again on the expiry callback; a failing refresh keeps the last value', async () => {
  const answers = new Map<string, unknown>([['/v1/kv/jack', { data: { key: 'v1' } }]]);
  const peer = await kvPeer(answers);
  let expired!: () => void;
  const expiry = new Promise<void>((r) => { expired = r; });
  const resolver = new SecretResolver({ ttlMs: 20, retryMs: 60_000, env: {}, onExpiry: () => expired() });
  try {
    const state = new ConfigState();
    state.set(obj('secrets', 'vault/1', { id: 'vault/1', uri: peer.uri, prefix: 'kv', token: 'tok' }, 1));
    state.set(obj('consumers', 'jack', { username: 'jack', plugins: { 'key-auth': { key: '$secret://vault/1/jack/key' } } }, 2));
    await resolver.prepare(state);
    await expiry;
    answers.set('/v1/kv/jack', 503);
    await resolver.prepare(state);
    const key = ((resolver.view(state).get('consumers', 'jack')!.value.plugins as Record<string, Record<string, unknown>>)['key-auth']!).key;
    assert.equal(key, 'v1');
    assert.equal(peer.hits.length, 2);
  } finally {
    resolver.close();
    await peer.close();
  }
});
