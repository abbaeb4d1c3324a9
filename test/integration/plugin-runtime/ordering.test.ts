import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  up = await startUpstream('a');
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  const all = { 'trace-default': {}, 'trace-authn': {}, 'trace-authz-low': {}, 'trace-authz-high': {} };
  gw = await startGateway({
    extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR] },
    config: {
      routes: [
        { id: 'order', uri: '/order', upstream, plugins: all },
        { id: 'meta-priority', uri: '/meta-priority', upstream, plugins: {
          ...all, 'trace-authz-low': { _meta: { priority: 900 } } } },
        { id: 'meta-stage', uri: '/meta-stage', upstream, plugins: {
          ...all, 'trace-default': { _meta: { stage: 'authorization', priority: 1 } } } },
        { id: 'disabled', uri: '/disabled', upstream, plugins: { ...all, 'trace-authn': { _meta: { disable: true } } } },
        { id: 'filter', uri: '/filter', upstream, plugins: {
          'trace-authz-high': { _meta: { filter: [['arg_version', '==', 'v2']] } }, 'trace-authz-low': {} } },
        { id: 'nested-filter', uri: '/nested', upstream, plugins: {
          'trace-authz-high': { _meta: { filter: ['OR', ['http_x_a', '==', '1'], ['AND', ['arg_b', '~~', '^[0-9]+$'], ['remote_addr', 'ipmatch', ['127.0.0.0/8']]]] } } } },
      ],
    },
  });
});

after(async () => {
  await gw.stop();
  await up.close();
});

const trace = async (path: string, headers?: Record<string, string>) => {
  const r = await get(gw.url + path, { headers });
  assert.equal(r.status, 200, r.body);
  return { req: r.json().headers['x-trace'] as string | undefined, resp: r.headers['x-trace-resp'] as string | undefined };
};

test('plugins run by stage (authorization > authentication > statistics > default), then by priority', async () => {
  const t = await trace('/order');
  assert.equal(t.req, 'trace-authz-high,trace-authz-low,trace-authn,trace-default');
});

test('the response side runs in reverse order', async () => {
  const t = await trace('/order');
  assert.equal(t.resp, 'trace-default,trace-authn,trace-authz-low,trace-authz-high');
});

test('_meta.priority re-sorts that instance within its stage', async () => {
  const t = await trace('/meta-priority');
  assert.equal(t.req, 'trace-authz-low,trace-authz-high,trace-authn,trace-default');
});

test('_meta.stage moves that instance to another stage', async () => {
  const t = await trace('/meta-stage');
  assert.equal(t.req, 'trace-authz-high,trace-authz-low,trace-default,trace-authn');
});

test('_meta.disable removes the instance from every phase', async () => {
  const t = await trace('/disabled');
  assert.equal(t.req, 'trace-authz-high,trace-authz-low,trace-default');
  assert.equal(t.resp, 'trace-default,trace-authz-low,trace-authz-high');
});

test('_meta.filter runs the instance only when the expression matches (arg_version == v2)', async () => {
  assert.equal((await trace('/filter')).req, 'trace-authz-low');
  assert.equal((await trace('/filter?version=v2')).req, 'trace-authz-high,trace-authz-low');
  assert.equal((await trace('/filter?version=v1')).req, 'trace-authz-low');
});

test('_meta.filter supports nested AND / OR groups, regex and ipmatch', async () => {
  assert.equal((await trace('/nested')).req, undefined);
  assert.equal((await trace('/nested', { 'x-a': '1' })).req, 'trace-authz-high');
  assert.equal((await trace('/nested?b=123')).req, 'trace-authz-high');
  assert.equal((await trace('/nested?b=12x')).req, undefined);
});
