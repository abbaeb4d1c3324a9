import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StoredObject } from '../contracts/store.js';
import { ConfigState, credentialKey, splitCredentialKey } from './state.js';

const obj = (kind: StoredObject['kind'], id: string, rev: number, value: Record<string, unknown> = {}): StoredObject =>
  ({ kind, id, value, createdIndex: rev, modifiedIndex: rev });

describe('ConfigState', () => {
  it('applies put and delete events and tracks the revision', () => {
    const s = new ConfigState();
    assert.equal(s.applyEvent({ type: 'put', object: obj('routes', 'r1', 1), revision: 1 }), true);
    assert.equal(s.applyEvent({ type: 'put', object: obj('routes', 'r2', 2), revision: 2 }), true);
    assert.equal(s.applyEvent({ type: 'delete', kind: 'routes', id: 'r1', revision: 3 }), true);
    assert.equal(s.revision, 3);
    assert.deepEqual(s.list('routes').map((o) => o.id), ['r2']);
    assert.equal(s.get('routes', 'r1'), undefined);
  });

  it('ignores events it has already seen', () => {
    const s = new ConfigState();
    s.applyEvent({ type: 'put', object: obj('routes', 'r1', 5, { uri: '/new' }), revision: 5 });
    assert.equal(s.applyEvent({ type: 'put', object: obj('routes', 'r1', 4, { uri: '/old' }), revision: 4 }), false);
    assert.equal(s.get('routes', 'r1')?.value.uri, '/new');
  });

  it('replaces everything on a reset event', () => {
    const s = new ConfigState();
    s.applyEvent({ type: 'put', object: obj('routes', 'r1', 1), revision: 1 });
    s.applyEvent({ type: 'reset', state: { revision: 9, objects: [obj('upstreams', 'u1', 9)] } });
    assert.equal(s.revision, 9);
    assert.equal(s.size('routes'), 0);
    assert.equal(s.size(), 1);
  });

  it('round-trips through the plain store state, kind by kind', () => {
    const s = ConfigState.fromStoreState({
      revision: 3,
      objects: [obj('upstreams', 'u1', 1), obj('routes', 'r1', 2), obj('credentials', credentialKey('jack', 'c1'), 3)],
    });
    const plain = s.toStoreState();
    assert.equal(plain.revision, 3);
    assert.deepEqual(plain.objects.map((o) => `${o.kind}/${o.id}`), ['routes/r1', 'upstreams/u1', 'credentials/jack/c1']);
    assert.deepEqual(s.credentialsOf('jack').map((o) => o.id), ['jack/c1']);
  });

  it('keeps the first-seen order when an object is replaced', () => {
    const s = new ConfigState();
    s.set(obj('routes', 'a', 1));
    s.set(obj('routes', 'b', 2));
    s.set({ ...obj('routes', 'a', 1), modifiedIndex: 3 });
    assert.deepEqual(s.list('routes').map((o) => o.id), ['a', 'b']);
    assert.equal(s.revision, 3);
  });

  it('splits credential keys into username and credential id', () => {
    assert.deepEqual(splitCredentialKey('jack/c1'), { username: 'jack', id: 'c1' });
    assert.throws(() => splitCredentialKey('jack'), /expected <username>\/<id>/);
  });
});
