import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigView, StoredObject } from '../contracts/store.js';
import type { ResourceKind } from '../contracts/resources.js';
import { PluginRegistry } from '../plugin-runtime/registry.js';
import { SnapshotBuilder } from './snapshot.js';

function viewOf(objects: Partial<Record<ResourceKind, Record<string, Record<string, unknown>>>>, revision = 1): ConfigView {
  const stored = (kind: ResourceKind, id: string, value: Record<string, unknown>): StoredObject =>
    ({ kind, id, value, createdIndex: 1, modifiedIndex: 1 });
  return {
    revision,
    list: (kind) => Object.entries(objects[kind] ?? {}).map(([id, v]) => stored(kind, id, v)),
    get: (kind, id) => (objects[kind]?.[id] !== undefined ? stored(kind, id, objects[kind]![id]!) : undefined),
  };
}

const nodes = (port: number): unknown[] => [{ host: '127.0.0.1', port, weight: 1, priority: 0 }];

test('a plugin\'s choice of upstream is compiled once per snapshot, route and choice, and shares stored upstreams\' runtimes', async () => {
  const builder = new SnapshotBuilder({ defaultTlsProtocols: ['TLSv1.2', 'TLSv1.3'] }, await PluginRegistry.load());
  try {
    const stored = { type: 'roundrobin', nodes: nodes(2001) };
    const view = viewOf({
      routes: {
        r: { uri: '/r', upstream: { type: 'roundrobin', nodes: nodes(2000) } },
        s: { uri: '/s', upstream_id: 'canary' },
      },
      upstreams: { canary: stored },
    });
    const snap = builder.build(view);
    const r = snap.router.match({ method: 'GET', host: '', path: '/r', remoteAddr: '127.0.0.1', vars: () => undefined })!.route;
    const s = snap.router.match({ method: 'GET', host: '', path: '/s', remoteAddr: '127.0.0.1', vars: () => undefined })!.route;

    const inline = { upstream: { type: 'roundrobin', nodes: nodes(2002) } };
    const a = snap.withUpstream(r, inline);
    assert.equal(snap.withUpstream(r, inline), a, 'the same object: built once');
    assert.equal(a.id, 'r');
    assert.equal(a.upstream?.conf, inline.upstream);

    const byId = snap.withUpstream(r, { upstream_id: 'canary' });
    assert.equal(byId.upstream, s.upstream, 'the stored upstream\'s balancer and health state are shared with the route using it');
    assert.equal(snap.withUpstream(r, { upstream_id: 'canary' }), byId);

    const missing = snap.withUpstream(r, { upstream_id: 'nope' });
    assert.equal(missing.upstream, undefined);
    assert.equal(missing.upstreamError, 'GH_ERR_UPSTREAM_NOT_FOUND');
  } finally {
    builder.close();
  }
});
