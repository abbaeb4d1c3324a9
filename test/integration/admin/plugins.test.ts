// `/apisix/admin/plugins`: list, schemas, detail, and hot reload of the whitelist
// (PUT /plugins/reload and SIGHUP), seen by the Admin API and by every worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { startGateway, eventually, type Gateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { adminClient, routeTo, type AdminCall } from './client.js';

const BIN = fileURLToPath(new URL('../../../../bin/gatehouse.js', import.meta.url));
const STAGES = ['authorization', 'authentication', 'statistics', 'default'];

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;

before(async () => {
  up = await startUpstream('plugins');
  gw = await startGateway({
    store: 'sqlite', workers: 2, extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR] },
    adminKeys: [{ name: 'admin', key: 'admin-key-1' }, { name: 'viewer', key: 'viewer-key-1', role: 'viewer' }],
  });
  call = adminClient(gw);
});
after(async () => {
  await gw?.stop();
  await up?.close();
});

/** One request on a fresh connection, so the cluster's round-robin spreads them over the workers. */
function fresh(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${gw.url}${path}`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

async function setWhitelist(names: string[] | undefined): Promise<void> {
  const conf = parse(await readFile(gw.configFile, 'utf8')) as Record<string, unknown>;
  if (names === undefined) delete conf.plugins;
  else conf.plugins = names;
  await writeFile(gw.configFile, stringify(conf));
}

test('GET /plugins/list: the installed plugins in execution order (stage, then priority)', async () => {
  const r = await call('GET', '/plugins/list');
  assert.equal(r.status, 200);
  const names = r.body as string[];
  for (const n of ['key-auth', 'cors', 'real-ip', 'trace-authz-high', 'trace-default']) assert.ok(names.includes(n), n);
  const all = (await call('GET', '/plugins?all=true')).body as Record<string, { stage: string; priority: number }>;
  const expected = Object.keys(all).sort((a, b) => STAGES.indexOf(all[a]!.stage) - STAGES.indexOf(all[b]!.stage)
    || all[b]!.priority - all[a]!.priority || (a < b ? -1 : 1));
  assert.deepEqual(names, expected);
  assert.ok(names.indexOf('real-ip') < names.indexOf('key-auth') && names.indexOf('key-auth') < names.indexOf('cors'));
  assert.deepEqual((await call('GET', '/plugins/list?subsystem=stream')).body, []);
});

test('GET /plugins?all=true: every plugin with version, stage, priority, type and schemas', async () => {
  const r = await call('GET', '/plugins?all=true');
  assert.equal(r.status, 200);
  const ka = r.body['key-auth'];
  assert.equal(ka.stage, 'authorization');
  assert.equal(ka.priority, 310);
  assert.equal(ka.type, 'auth');
  assert.ok(ka.version !== undefined);
  assert.match(ka.description, /key authentication/, 'a built-in carries its one-line description');
  assert.ok(ka.schema.properties._meta, 'the schema carries the injected _meta');
  assert.equal(typeof ka.consumer_schema, 'object');
  assert.equal(r.body.cors.metadata_schema !== undefined, true);
  assert.equal(r.body.cors.type, undefined);
  // the same map, in execution order, from /plugins/list?all=true
  const listed = await call('GET', '/plugins/list?all=true');
  assert.deepEqual(Object.keys(listed.body), (await call('GET', '/plugins/list')).body);
});

test('GET /plugins/{name}: the schema with _meta; schema_type; detail=true; unknown plugin', async () => {
  const s = await call('GET', '/plugins/key-auth');
  assert.equal(s.status, 200);
  assert.equal(s.body.type, 'object');
  assert.deepEqual(Object.keys(s.body.properties._meta.properties).sort(), ['disable', 'error_response', 'filter', 'priority', 'stage']);
  const c = await call('GET', '/plugins/key-auth?schema_type=consumer');
  assert.equal(c.status, 200);
  assert.ok(c.body.properties.key, 'the consumer schema has the key');
  assert.equal(c.body.properties._meta, undefined);
  assert.equal((await call('GET', '/plugins/cors?schema_type=metadata')).status, 200);
  assert.deepEqual((await call('GET', '/plugins/cors?schema_type=consumer')).body, { error_msg: 'not found schema' });
  const d = await call('GET', '/plugins/key-auth?detail=true');
  assert.equal(d.status, 200);
  assert.deepEqual({ name: d.body.name, stage: d.body.stage, priority: d.body.priority, type: d.body.type },
    { name: 'key-auth', stage: 'authorization', priority: 310, type: 'auth' });
  assert.match(d.body.description, /key authentication/);
  assert.deepEqual(d.body.schema, s.body);
  const u = await call('GET', '/plugins/no-such-plugin');
  assert.equal(u.status, 404);
  assert.deepEqual(u.body, { error_msg: 'plugin not found in subsystem http' });
  assert.deepEqual((await call('GET', '/plugins/key-auth?subsystem=stream')).body, { error_msg: 'plugin not found in subsystem stream' });
  assert.equal((await call('POST', '/plugins/key-auth', {})).status, 405);
});

test('/plugins/reload answers only PUT, and only to an admin key', async () => {
  const g = await call('GET', '/plugins/reload');
  assert.equal(g.status, 405);
  assert.deepEqual(g.body, { error_msg: 'please use PUT method to reload the plugins, GET method is not allowed.' });
  const p = await call('POST', '/plugins/reload');
  assert.deepEqual(p.body, { error_msg: 'please use PUT method to reload the plugins, POST method is not allowed.' });
  assert.equal((await call('PUT', '/plugins/reload', undefined, { key: 'viewer-key-1' })).status, 403);
  const ok = await call('PUT', '/plugins/reload');
  assert.equal(ok.status, 200);
  assert.equal(ok.text, 'done');
  assert.match(String(ok.headers['content-type']), /^text\/plain/);
});

test('a reload applies a changed whitelist to the Admin API checks and to every worker; `gatehouse reload` (SIGHUP) does the same', async () => {
  const put = await call('PUT', '/routes/traced', { ...routeTo('/traced', up.port), plugins: { 'trace-authz-high': {} } });
  assert.equal(put.status, 201, put.text);
  await eventually(async () => (await fresh('/traced')) === 200);

  const everything = (await call('GET', '/plugins/list')).body as string[];
  await setWhitelist(everything.filter((n) => n !== 'trace-authz-high'));
  assert.equal((await call('PUT', '/plugins/reload')).status, 200);

  const list = (await call('GET', '/plugins/list')).body as string[];
  assert.ok(!list.includes('trace-authz-high'));
  assert.equal((await call('GET', '/plugins/trace-authz-high')).status, 404);
  const refused = await call('PUT', '/routes/other', { ...routeTo('/other', up.port), plugins: { 'trace-authz-high': {} } });
  assert.equal(refused.status, 400);
  assert.match(refused.body.error_msg, /unknown plugin \[trace-authz-high\]/);
  // "done" means every worker runs the new set: a route needing the plugin is no longer served anywhere
  for (let i = 0; i < 8; i++) assert.equal(await fresh('/traced'), 404);

  await setWhitelist(undefined);
  const from = gw.output().length;
  const cli = spawnSync(process.execPath, [BIN, 'reload', '-c', gw.configFile], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  await gw.waitForOutput('configuration reloaded', from);
  assert.ok((await call('GET', '/plugins/list')).body.includes('trace-authz-high'));
  assert.equal((await call('PUT', '/routes/other', { ...routeTo('/other', up.port), plugins: { 'trace-authz-high': {} } })).status, 201);
  for (let i = 0; i < 8; i++) assert.equal(await fresh('/traced'), 200);
});

test('a reload that cannot read config.yaml changes nothing and says why', async () => {
  const before = (await call('GET', '/plugins/list')).body;
  const original = await readFile(gw.configFile, 'utf8');
  await writeFile(gw.configFile, `${original}\nplugins: not-a-list\n`);
  try {
    const r = await call('PUT', '/plugins/reload');
    assert.equal(r.status, 500);
    assert.match(r.body.error_msg, /^failed to reload plugins, the previous plugins keep running: /);
    assert.deepEqual((await call('GET', '/plugins/list')).body, before);
  } finally {
    await writeFile(gw.configFile, original);
  }
});

test('?bound=true: where every plugin is bound, built-ins included (the dashboard\'s cards)', async () => {
  assert.equal((await call('PUT', '/routes/bound-r', { ...routeTo('/bound', up.port), plugins: { 'key-auth': {}, cors: {} } })).status, 201);
  assert.equal((await call('PUT', '/global_rules/bound-g', { plugins: { cors: {} } })).status, 201);
  assert.equal((await call('PUT', '/plugin_configs/bound-pc', { plugins: { 'request-id': {} } })).status, 201);
  const all = (await call('GET', '/plugins?all=true&bound=true')).body as Record<string, { bound_to: Record<string, string[]> }>;
  assert.deepEqual(all['key-auth']!.bound_to.routes, ['bound-r']);
  assert.deepEqual(all.cors!.bound_to.routes, ['bound-r']);
  assert.deepEqual(all.cors!.bound_to.global_rules, ['bound-g']);
  assert.deepEqual(all['request-id']!.bound_to.plugin_configs, ['bound-pc']);
  assert.deepEqual(Object.values(all['real-ip']!.bound_to).flat(), [], 'an unbound plugin has empty lists');
  const detail = (await call('GET', '/plugins/key-auth?detail=true&bound=true')).body as { bound_to: Record<string, string[]> };
  assert.deepEqual(detail.bound_to.routes, ['bound-r']);
  assert.equal(((await call('GET', '/plugins?all=true')).body as Record<string, object>)['key-auth']!.hasOwnProperty('bound_to'), false,
    'without the parameter the answer is APISIX\'s');
  const bad = await call('GET', '/plugins?all=true&bound=yes');
  assert.equal(bad.status, 400);
  assert.match((bad.body as { error_msg: string }).error_msg, /bound/);
  for (const path of ['/routes/bound-r', '/global_rules/bound-g', '/plugin_configs/bound-pc']) await call('DELETE', path);
});
