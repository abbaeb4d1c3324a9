// The marketplace's life of a plugin through the real gateway: enabled plugins are frozen
// (409) except for enable/disable and version switches, versions are kept and rolled
// back, bindings are shown and protect deletes, disabled plugins cannot be bound, and
// binaries no version names any more leave the store (issue 11 §4).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../../src/config-store/sqlite-store.js';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { sendPublishForm, validPlugin } from '../../helpers/custom-plugins.js';
import { adminClient, routeTo, type AdminCall } from './client.js';

const ADMIN = 'market-admin-key-4567';
const FORM = { stage: 'statistics', priority: '100', version: '1.0.0' };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('custom plugins: enable, edit, versions, bindings, delete', () => {
  let gw: Gateway;
  let call: AdminCall;
  let v1: Buffer;
  let v2: Buffer;
  const publish = (id: string, fields: Record<string, string>, bytes: Buffer) =>
    sendPublishForm(gw.adminUrl, ADMIN, 'PUT', `/custom_plugins/${id}`, fields, { bytes });
  const blobKeys = (): string[] => {
    const db = new Database(join(gw.dir, 'data', 'gatehouse.db'), { readonly: true });
    try {
      return db.prepare('SELECT sha256 FROM blobs').pluck().all() as string[];
    } finally {
      db.close();
    }
  };

  before(async () => {
    v1 = await validPlugin('one');
    v2 = await validPlugin('two');
    gw = await startGateway({ store: 'sqlite', statusListener: false, adminKeys: [{ name: 'ops', key: ADMIN, role: 'admin' }] });
    call = adminClient(gw);
    const r = await publish('stamp', FORM, v1);
    assert.equal(r.status, 201, JSON.stringify(r.body));
  });
  after(async () => { await gw?.stop(); });

  test('while enabled: re-upload, form edits and delete are 409 saying to disable first', async () => {
    const upload = await publish('stamp', { ...FORM, version: '2.0.0' }, v2);
    assert.equal(upload.status, 409);
    assert.equal(upload.body.error_msg, 'custom plugin stamp is enabled: disable it first');
    const edit = await call('PATCH', '/custom_plugins/stamp', { priority: 5 });
    assert.equal(edit.status, 409);
    assert.match(edit.body.error_msg, /^custom plugin stamp is enabled: disable it first/);
    const del = await call('DELETE', '/custom_plugins/stamp');
    assert.equal(del.status, 409);
    assert.match(del.body.error_msg, /is enabled: disable it first/);
  });

  test('PATCH enabled works while enabled; form fields change (JSON) once disabled', async () => {
    const off = await call('PATCH', '/custom_plugins/stamp', { enabled: false });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.value.enabled, false);
    const edit = await call('PATCH', '/custom_plugins/stamp', { priority: 5, stage: 'UNSPECIFIED_PHASE', description: 'stamps' });
    assert.equal(edit.status, 200, JSON.stringify(edit.body));
    assert.equal(edit.body.value.priority, 5);
    assert.equal(edit.body.value.stage, 'default');
    assert.equal(edit.body.value.description, 'stamps');
    assert.ok(edit.body.value.update_time >= edit.body.value.create_time);
    const bad = await call('PATCH', '/custom_plugins/stamp', { versions: [] });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error_msg, /field versions cannot be changed/);
    const unknown = await call('PATCH', '/custom_plugins/stamp', { colour: 'red' });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error_msg, /unknown field colour/);
  });

  test('a new version keeps the earlier ones; a version already published is a 409', async () => {
    const same = await publish('stamp', FORM, v2);
    assert.equal(same.status, 409);
    assert.match(same.body.error_msg, /already has version 1\.0\.0/);
    const noVersion = await publish('stamp', { stage: 'default', priority: '1' }, v2);
    assert.equal(noVersion.status, 400);
    assert.match(noVersion.body.error_msg, /missing field version/);
    const r = await publish('stamp', { version: '2.0.0', version_description: 'second' }, v2);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.value.version, '2.0.0');
    assert.deepEqual(r.body.value.versions.map((v: any) => v.version), ['1.0.0', '2.0.0']);
    assert.equal(r.body.value.versions[1].sha256, sha(v2));
    assert.equal(r.body.value.priority, 5, 'fields not given keep their value');
    assert.equal(r.body.value.enabled, false, 'a re-upload keeps the plugin disabled unless enabled=true is sent');
    assert.deepEqual(blobKeys().sort(), [sha(v1), sha(v2)].sort());
  });

  test('PATCH version rolls back and forward while enabled; an unknown version is a 400 naming it', async () => {
    assert.equal((await call('PATCH', '/custom_plugins/stamp', { enabled: true })).status, 200);
    const back = await call('PATCH', '/custom_plugins/stamp', { version: '1.0.0' });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal(back.body.value.version, '1.0.0');
    assert.equal(back.body.value.versions.length, 2);
    const fwd = await call('PATCH', '/custom_plugins/stamp', { version: '2.0.0' });
    assert.equal(fwd.body.value.version, '2.0.0');
    const none = await call('PATCH', '/custom_plugins/stamp', { version: '7.7.7' });
    assert.equal(none.status, 400);
    assert.match(none.body.error_msg, /custom plugin stamp has no version 7\.7\.7 \(published: 1\.0\.0, 2\.0\.0\)/);
  });

  test('binding a disabled custom plugin is refused at write time; an unknown name stays "unknown plugin"', async () => {
    const off = await publish('sleepy', { ...FORM, enabled: 'false' }, v1);
    assert.equal(off.status, 201, JSON.stringify(off.body));
    const upstreamPort = 1980;
    const route = await call('PUT', '/routes/r-sleepy', { ...routeTo('/sleepy', upstreamPort), plugins: { sleepy: {} } });
    assert.equal(route.status, 400);
    assert.match(route.body.error_msg, /^custom plugin sleepy is disabled/);
    const rule = await call('PUT', '/global_rules/g-sleepy', { plugins: { sleepy: {} } });
    assert.equal(rule.status, 400);
    assert.match(rule.body.error_msg, /custom plugin sleepy is disabled/);
    const unknown = await call('PUT', '/routes/r-none', { ...routeTo('/none', upstreamPort), plugins: { 'no-such-plugin': {} } });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error_msg, /unknown plugin \[no-such-plugin\]/);
  });

  test('GET shows where a plugin is bound; DELETE of a bound plugin is a 409 listing where, unless ?force=true', async () => {
    // Written straight into the store (as `config import` could), since binding a custom plugin
    // through the Admin API needs the runtime to know it.
    const store = new SqliteStore(join(gw.dir, 'data', 'gatehouse.db'));
    try {
      await store.put('routes', 'r-bound', { id: 'r-bound', uri: '/bound', plugins: { sleepy: {} }, upstream: { nodes: [{ host: '127.0.0.1', port: 1980, weight: 1 }] } });
      await store.put('services', 's-bound', { id: 's-bound', plugins: { sleepy: {} } });
    } finally {
      await store.close();
    }
    const shown = await call('GET', '/custom_plugins/sleepy');
    assert.deepEqual(shown.body.bound_to.routes, ['r-bound']);
    assert.deepEqual(shown.body.bound_to.services, ['s-bound']);
    const del = await call('DELETE', '/custom_plugins/sleepy');
    assert.equal(del.status, 409);
    assert.match(del.body.error_msg, /can not delete custom plugin sleepy, route \[r-bound\], service \[s-bound\] still use it/);
    // an existing binding does not freeze the route: it can still be edited
    const edit = await call('PATCH', '/routes/r-bound', { desc: 'still editable' });
    assert.notEqual(edit.status, 409);
    assert.doesNotMatch(String(edit.body?.error_msg), /is disabled/);
    const forced = await call('DELETE', '/custom_plugins/sleepy?force=true');
    assert.equal(forced.status, 200, JSON.stringify(forced.body));
    assert.deepEqual(forced.body, { key: '/apisix/custom_plugins/sleepy', deleted: '1' });
    const rebind = await call('PATCH', '/routes/r-bound', { plugins: { sleepy: {}, 'no-such': {} } });
    assert.equal(rebind.status, 400);
  });

  test('deleting a version that is not serving keeps its blob only while another version names it', async () => {
    const enabled = await call('DELETE', '/custom_plugins/stamp/versions/1.0.0');
    assert.equal(enabled.status, 409, 'only while disabled');
    assert.equal((await call('PATCH', '/custom_plugins/stamp', { enabled: false })).status, 200);
    const current = await call('DELETE', '/custom_plugins/stamp/versions/2.0.0');
    assert.equal(current.status, 409);
    assert.match(current.body.error_msg, /is the current one/);
    assert.ok(blobKeys().includes(sha(v1)));
    const r = await call('DELETE', '/custom_plugins/stamp/versions/1.0.0');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.value.versions.map((v: any) => v.version), ['2.0.0']);
    assert.ok(blobKeys().includes(sha(v1)) === false, 'v1 is no longer named by any version (sleepy, which also used it, is gone)');
    assert.equal((await call('DELETE', '/custom_plugins/stamp/versions/1.0.0')).status, 404);
  });

  test('deleting a disabled, unbound plugin removes it and its blobs', async () => {
    const r = await call('DELETE', '/custom_plugins/stamp');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await call('GET', '/custom_plugins/stamp')).status, 404);
    assert.deepEqual(blobKeys(), []);
    assert.equal((await call('DELETE', '/custom_plugins/stamp')).status, 404);
  });
});
