import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Plugin } from '../../contracts/plugin.js';
import { PluginRegistry } from '../../plugin-runtime/registry.js';
import { AdminError } from '../errors.js';
import type { AdminRequest } from '../server.js';
import { pluginsRoute } from './plugins.js';

async function setup(): Promise<{ handle: (method: string, path: string) => Promise<{ status: number; body: unknown; text?: string }>; reloads: () => number }> {
  const reg = await PluginRegistry.load({ whitelist: [] });
  const base = { version: '0.1', schema: { type: 'object', properties: { a: { type: 'string' } } } };
  reg.add({ ...base, name: 'low', stage: 'default', priority: 1 } as Plugin);
  reg.add({ ...base, name: 'auth', stage: 'authorization', priority: 5, type: 'auth',
    consumerSchema: { type: 'object', properties: { key: { type: 'string' } } } } as Plugin);
  reg.add({ ...base, name: 'stats', stage: 'statistics', priority: 500, runPolicy: 'prefer_route',
    metadataSchema: { type: 'object' } } as Plugin);
  let n = 0;
  const route = pluginsRoute({ registry: () => reg, reload: async () => { n++; } });
  return {
    reloads: () => n,
    handle: async (method, path) => {
      const url = new URL(path, 'http://x');
      const segments = url.pathname.split('/').filter((s) => s !== '');
      return route({ method, segments, query: url.searchParams, body: undefined, key: { name: 'k', key: 'k', role: 'admin' } } as AdminRequest);
    },
  };
}

const rejects = async (p: Promise<unknown>, status: number, message: string): Promise<void> => {
  await assert.rejects(p, (e: unknown) => e instanceof AdminError && e.status === status && e.message === message);
};

test('list: names in execution order; ?all=true: the detail map in the same order', async () => {
  const { handle } = await setup();
  assert.deepEqual((await handle('GET', '/list')).body, ['auth', 'stats', 'low']);
  const all = (await handle('GET', '/?all=true')).body as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(all), ['auth', 'stats', 'low']);
  assert.deepEqual(Object.keys(all.auth!).sort(), ['consumer_schema', 'priority', 'schema', 'stage', 'type', 'version']);
  assert.equal(all.stats!.run_policy, 'prefer_route');
  assert.ok(all.stats!.metadata_schema);
  assert.deepEqual((await handle('GET', '/list?all=true')).body, all);
  assert.deepEqual((await handle('GET', '/list?subsystem=stream')).body, []);
  await rejects(handle('GET', '/list?subsystem=tcp'), 400, 'unsupported subsystem: tcp');
});

test('one plugin: schema with _meta, schema_type, detail, unknown', async () => {
  const { handle } = await setup();
  const s = (await handle('GET', '/auth')).body as { properties: Record<string, unknown> };
  assert.ok(s.properties._meta && s.properties.a);
  assert.deepEqual((await handle('GET', '/auth?schema_type=consumer')).body, { type: 'object', properties: { key: { type: 'string' } } });
  await rejects(handle('GET', '/low?schema_type=consumer'), 400, 'not found schema');
  await rejects(handle('GET', '/low?schema_type=other'), 400, 'unsupported schema_type: other (use consumer or metadata)');
  const d = (await handle('GET', '/auth?detail=true')).body as Record<string, unknown>;
  assert.deepEqual([d.name, d.stage, d.priority, d.type, d.version], ['auth', 'authorization', 5, 'auth', '0.1']);
  await rejects(handle('GET', '/nope'), 404, 'plugin not found in subsystem http');
  await rejects(handle('GET', '/auth?subsystem=stream'), 404, 'plugin not found in subsystem stream');
  await rejects(handle('DELETE', '/auth'), 405, 'not supported `DELETE` method for plugins');
});

test('reload: PUT only, answers done', async () => {
  const { handle, reloads } = await setup();
  await rejects(handle('GET', '/reload'), 405, 'please use PUT method to reload the plugins, GET method is not allowed.');
  assert.deepEqual(await handle('PUT', '/reload'), { status: 200, body: undefined, text: 'done' });
  assert.equal(reloads(), 1);
});
