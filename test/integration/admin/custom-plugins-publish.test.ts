// The marketplace's publish form through the real gateway's Admin API: what is accepted,
// what is refused and with which status and message (issue 11 §4).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { buildWasm, minimalProxyWasmWat, multipartBody, sendPublishForm, validPlugin } from '../../helpers/custom-plugins.js';
import { adminClient, type AdminCall } from './client.js';

const ADMIN = 'market-admin-key-0123';
const VIEWER = 'market-viewer-key-0123';
const FORM = { stage: 'default', priority: '10', name: 'Add header', language: 'AssemblyScript', version: '1.0.0' };
const MB = 1024 * 1024;

describe('custom plugins: publishing', () => {
  let gw: Gateway;
  let call: AdminCall;
  let wasm: Buffer;
  const publish = (method: 'PUT' | 'POST', path: string, fields: Record<string, string>, bytes?: Buffer | null, key = ADMIN, filename?: string) =>
    sendPublishForm(gw.adminUrl, key, method, path, fields, bytes === null ? undefined : { bytes: bytes ?? wasm, ...(filename ? { filename } : {}) });

  before(async () => {
    wasm = await validPlugin();
    gw = await startGateway({
      store: 'sqlite', statusListener: false,
      adminKeys: [{ name: 'ops', key: ADMIN, role: 'admin' }, { name: 'dash', key: VIEWER, role: 'viewer' }],
    });
    call = adminClient(gw);
  });
  after(async () => { await gw?.stop(); });

  test('PUT publishes a new plugin (201) with its first version, sha256, size, ABI and times', async () => {
    const r = await publish('PUT', '/custom_plugins/add-header', { ...FORM, description: 'adds a header', version_description: 'first' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.key, '/apisix/custom_plugins/add-header');
    const v = r.body.value;
    assert.equal(v.id, 'add-header');
    assert.equal(v.name, 'Add header');
    assert.equal(v.description, 'adds a header');
    assert.equal(v.language, 'AssemblyScript');
    assert.equal(v.stage, 'default');
    assert.equal(v.priority, 10);
    assert.equal(v.enabled, true);
    assert.equal(v.root_id, 'add-header');
    assert.equal(v.gateway_version, 'any');
    assert.equal(v.fail_strategy, 'FAIL_CLOSE');
    assert.equal(v.version, '1.0.0');
    assert.equal(v.versions.length, 1);
    assert.equal(v.versions[0].sha256, createHash('sha256').update(wasm).digest('hex'));
    assert.equal(v.versions[0].size, wasm.length);
    assert.equal(v.versions[0].abi, '0.2.1');
    assert.equal(v.versions[0].version_description, 'first');
    assert.equal(typeof v.create_time, 'number');
    assert.equal(v.update_time, v.create_time);
  });

  test('POST publishes with the id in the form; without one it is a 400', async () => {
    const r = await publish('POST', '/custom_plugins', { ...FORM, id: 'posted', stage: 'AUTHN', root_id: 'my_root', fail_strategy: 'FAIL_OPEN' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.value.stage, 'authorization', 'Higress phase names are normalised');
    assert.equal(r.body.value.root_id, 'my_root');
    assert.equal(r.body.value.fail_strategy, 'FAIL_OPEN');
    const missing = await publish('POST', '/custom_plugins', FORM);
    assert.equal(missing.status, 400);
    assert.match(missing.body.error_msg, /missing custom plugin id/);
  });

  test('GET lists (with page_size) and shows the plugin with bound_to, never the binary', async () => {
    const list = await call('GET', '/custom_plugins?page=1&page_size=10');
    assert.equal(list.status, 200);
    assert.ok(list.body.total >= 2);
    assert.ok(list.body.list.some((e: any) => e.value.id === 'add-header'));
    const one = await call('GET', '/custom_plugins/add-header');
    assert.equal(one.status, 200);
    assert.deepEqual(one.body.bound_to, { routes: [], services: [], global_rules: [], consumers: [], consumer_groups: [], plugin_configs: [] });
    assert.ok(one.text.length < 4096, 'no binary in the JSON');
    assert.equal((await call('GET', '/custom_plugins/add-header', undefined, { key: VIEWER })).status, 200);
  });

  test('the download endpoint returns the exact binary as application/wasm, to admin and viewer keys', async () => {
    for (const key of [ADMIN, VIEWER]) {
      const res = await fetch(`${gw.adminUrl}/custom_plugins/add-header/versions/1.0.0/wasm`, { headers: { 'x-api-key': key } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/wasm');
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), wasm);
    }
    const missing = await call('GET', '/custom_plugins/add-header/versions/9.9.9/wasm');
    assert.equal(missing.status, 404);
    assert.match(missing.body.error_msg, /has no version 9.9.9/);
  });

  test('a binary that is not WebAssembly, or imports what the host does not have, is a 400 with the reason', async () => {
    const junk = await publish('PUT', '/custom_plugins/junk', FORM, Buffer.from('this is not wasm'));
    assert.equal(junk.status, 400);
    assert.match(junk.body.error_msg, /^invalid wasm plugin: not a valid WebAssembly module/);
    const foreign = await buildWasm(minimalProxyWasmWat().replace('(module', '(module (import "foo" "bar" (func))'));
    const imp = await publish('PUT', '/custom_plugins/foreign', FORM, foreign);
    assert.equal(imp.status, 400);
    assert.match(imp.body.error_msg, /^invalid wasm plugin: .*foo/);
    const noAbi = await buildWasm('(module (memory (export "memory") 1))');
    const abi = await publish('PUT', '/custom_plugins/no-abi', FORM, noAbi);
    assert.equal(abi.status, 400);
    assert.match(abi.body.error_msg, /invalid wasm plugin: .*ABI/);
    assert.equal((await call('GET', '/custom_plugins/junk')).status, 404, 'nothing stored');
  });

  test('the check configures the plugin: one that refuses its configuration is a 400', async () => {
    const refusing = await buildWasm(minimalProxyWasmWat().replace(
      '(func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)',
      '(func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 0)'));
    const r = await publish('PUT', '/custom_plugins/refuses', { ...FORM, configuration: '{"header":"x"}' }, refusing);
    assert.equal(r.status, 400);
    assert.match(r.body.error_msg, /^invalid wasm plugin: the plugin refused its configuration/);
  });

  test('a missing file or a bad field is a 400 naming it', async () => {
    const cases: [Record<string, string>, Buffer | null, RegExp, string?][] = [
      [FORM, null, /missing field file/],
      [{ ...FORM, stage: 'sometimes' }, undefined as unknown as Buffer, /stage/],
      [{ ...FORM, priority: 'high' }, undefined as unknown as Buffer, /invalid field priority/],
      [{ ...FORM, gateway_version: 'latest' }, undefined as unknown as Buffer, /gateway_version/],
      [{ ...FORM, fail_strategy: 'FAIL_MAYBE' }, undefined as unknown as Buffer, /fail_strategy/],
      [{ ...FORM, enabled: 'maybe' }, undefined as unknown as Buffer, /invalid field enabled/],
      [{ ...FORM, configuration: '{not json' }, undefined as unknown as Buffer, /invalid field configuration/],
      [{ ...FORM, colour: 'blue' }, undefined as unknown as Buffer, /unknown field colour/],
      [{ priority: '1' }, undefined as unknown as Buffer, /missing field stage/],
      [FORM, undefined as unknown as Buffer, /the file name must end with .wasm/, 'plugin.zip'],
    ];
    for (const [fields, bytes, pattern, filename] of cases) {
      const r = await publish('PUT', '/custom_plugins/bad-field', fields, bytes, ADMIN, filename);
      assert.equal(r.status, 400, `${pattern}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.error_msg, pattern);
    }
    const json = await call('PUT', '/custom_plugins/bad-field', { name: 'x' });
    assert.equal(json.status, 400);
    assert.match(json.body.error_msg, /missing field file: publish with multipart\/form-data/);
  });

  test('the names of built-in plugins are refused for every write (403) and not found here (404)', async () => {
    const put = await publish('PUT', '/custom_plugins/key-auth', FORM);
    assert.equal(put.status, 403);
    assert.equal(put.body.error_msg, 'key-auth is a built-in plugin and cannot be edited');
    assert.equal((await publish('POST', '/custom_plugins', { ...FORM, id: 'limit-count' })).status, 403);
    assert.equal((await call('PATCH', '/custom_plugins/key-auth', { enabled: false })).status, 403);
    assert.equal((await call('DELETE', '/custom_plugins/key-auth')).status, 403);
    const get = await call('GET', '/custom_plugins/key-auth');
    assert.equal(get.status, 404);
    assert.match(get.body.error_msg, /built-in plugin/);
  });

  test('a plugin that needs a newer gateway cannot be enabled, but publishes disabled', async () => {
    const on = await publish('PUT', '/custom_plugins/future', { ...FORM, gateway_version: '99.0.0' });
    assert.equal(on.status, 400);
    assert.match(on.body.error_msg, /^custom plugin future needs gateway >= 99\.0\.0, this gateway is \d+\.\d+\.\d+/);
    const off = await publish('PUT', '/custom_plugins/future', { ...FORM, gateway_version: '99.0.0', enabled: 'false' });
    assert.equal(off.status, 201, JSON.stringify(off.body));
    assert.equal(off.body.value.enabled, false);
    const enable = await call('PATCH', '/custom_plugins/future', { enabled: true });
    assert.equal(enable.status, 400);
    assert.match(enable.body.error_msg, /needs gateway >= 99\.0\.0/);
    const older = await call('PATCH', '/custom_plugins/future', { gateway_version: '0.0.1' });
    assert.equal(older.status, 200);
    assert.equal((await call('PATCH', '/custom_plugins/future', { enabled: true })).status, 200);
  });

  test('viewer keys may read but not publish, patch or delete', async () => {
    assert.equal((await publish('PUT', '/custom_plugins/by-viewer', FORM, undefined, VIEWER)).status, 403);
    assert.equal((await call('PATCH', '/custom_plugins/add-header', { enabled: false }, { key: VIEWER })).status, 403);
    assert.equal((await call('DELETE', '/custom_plugins/add-header', undefined, { key: VIEWER })).status, 403);
    assert.equal((await call('GET', '/custom_plugins', undefined, { key: VIEWER })).status, 200);
  });

  test('a declared Content-Length over 50 MB is refused with 413 before the body is read', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const url = new URL(gw.adminUrl);
      const socket = net.connect(Number(url.port), '127.0.0.1');
      let out = '';
      socket.on('data', (c) => {
        out += c.toString();
        if (/\r\n\r\n[\s\S]*\}/.test(out)) { socket.destroy(); resolve(out); }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(out));
      // an answer that waits for the 60 MB never sent shows up as no answer, not as a hung test
      socket.setTimeout(10_000, () => { socket.destroy(); resolve(out); });
      socket.write(`PUT /apisix/admin/custom_plugins/huge HTTP/1.1\r\nHost: x\r\nX-API-KEY: ${ADMIN}\r\n`
        + `Content-Type: multipart/form-data; boundary=b\r\nContent-Length: ${60 * MB}\r\n\r\n--b\r\n`);
    });
    assert.match(reply, /^HTTP\/1\.1 413/);
    assert.match(reply, /the \.wasm file is larger than 50 MB/);
  });

  test('a file streamed past 50 MB (no Content-Length) is cut off with 413', async () => {
    const { body: head, contentType } = multipartBody(FORM, { bytes: Buffer.alloc(0) });
    const prefix = head.subarray(0, head.lastIndexOf('\r\n--'));
    const url = new URL(`${gw.adminUrl}/custom_plugins/huge`);
    const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(url, { method: 'PUT', headers: { 'x-api-key': ADMIN, 'content-type': contentType, 'transfer-encoding': 'chunked' } });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }); req.destroy(); });
      });
      req.on('error', (e) => reject(e));
      req.write(prefix);
      const chunk = Buffer.alloc(MB, 1);
      let sent = 0;
      // bounded: 51 chunks of 1 MB, each written when the socket has room
      const pump = (): void => {
        while (sent < 51) {
          sent++;
          if (!req.write(chunk)) { req.once('drain', pump); return; }
        }
        req.end(Buffer.from('\r\n--end--\r\n'));
      };
      pump();
    });
    assert.equal(status.status, 413);
    assert.match(JSON.parse(status.body).error_msg, /the \.wasm file is larger than 50 MB/);
    assert.equal((await call('GET', '/custom_plugins/huge')).status, 404);
  });
});

describe('custom plugins: standalone store', () => {
  let gw: Gateway;
  before(async () => { gw = await startGateway({ adminKeys: [{ name: 'ops', key: ADMIN }], statusListener: false }); });
  after(async () => { await gw?.stop(); });

  test('publishing answers like every other write to a read-only store', async () => {
    const r = await sendPublishForm(gw.adminUrl, ADMIN, 'PUT', '/custom_plugins/p', FORM, { bytes: await validPlugin() });
    assert.equal(r.status, 405);
    assert.match(r.body.error_msg, /read-only with store\.type standalone/);
  });
});
