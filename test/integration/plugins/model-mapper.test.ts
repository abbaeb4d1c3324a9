import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Gateway } from '../../helpers/gateway.js';
import { eventually } from '../../helpers/gateway.js';
import { startWithAdminRoute } from '../../helpers/admin-route.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { routeTo, type AdminCall } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

let gw: Gateway;
let up: TestUpstream;
let call: AdminCall;

const MAPPING = { 'gpt-4-*': 'qwen-max', 'gpt-4o': 'qwen-vl-plus', 'claude-*': '', '*': 'qwen-turbo' };

interface Echo { headers: Record<string, string | undefined>; body: string }

async function sent(path: string, body: string, contentType = 'application/json'): Promise<Echo> {
  const r = await get(gw.url + path, { method: 'POST', headers: { 'content-type': contentType }, body });
  assert.equal(r.status, 200, r.body);
  return r.json<Echo>();
}

const modelSent = async (path: string, json: Record<string, unknown>): Promise<unknown> =>
  JSON.parse((await sent(path, JSON.stringify(json))).body).model;

before(async () => {
  ({ gw, up, call } = await startWithAdminRoute('mm', '/mm/*', {
    prometheus: {},
    'file-logger': { path: 'mm.log', log_format: { uri: '$request_uri', from: '$model_mapper_from', to: '$model_mapper_to' } },
    'model-mapper': { modelMapping: MAPPING },
  }, { path: '/mm/probe' }));
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

test('exact names, prefixes and the default; an empty target keeps the name', async () => {
  assert.equal(await modelSent('/mm/v1/chat/completions', { model: 'gpt-4o', messages: [] }), 'qwen-vl-plus');
  assert.equal(await modelSent('/mm/v1/chat/completions', { model: 'gpt-4-turbo', messages: [] }), 'qwen-max');
  assert.equal(await modelSent('/mm/v1/chat/completions', { model: 'llama3', messages: [] }), 'qwen-turbo');
  assert.equal(await modelSent('/mm/v1/chat/completions', { messages: [] }), 'qwen-turbo', 'a body without a model gets the default, as in Higress');
  const kept = JSON.stringify({ model: 'claude-3', messages: [] });
  assert.equal((await sent('/mm/v1/messages', kept)).body, kept, 'kept: the body is sent as it came');
  assert.equal(await modelSent('/mm/v1/responses?stream=1', { model: 'gpt-4o' }), 'qwen-vl-plus', 'the query is not part of the suffix test');
  const untyped = await get(gw.url + '/mm/v1/chat/completions', { method: 'POST', body: Buffer.from('{"model":"gpt-4o"}') });
  assert.equal(untyped.json<Echo>().headers['content-type'], undefined);
  assert.equal(untyped.json<Echo>().body, '{"model":"qwen-vl-plus"}', 'a body without a Content-Type is read as JSON');
});

test('paths off enableOnPathSuffix, bodies that are not JSON or whose model is not a string pass untouched', async () => {
  const body = JSON.stringify({ model: 'gpt-4o' });
  assert.equal((await sent('/mm/v1/models', body)).body, body);
  for (const [raw, type] of [['{"model": "gpt-4o"', 'application/json'], ['model=gpt-4o', 'text/plain'], ['{"model": ["gpt-4o"]}', 'application/json'], ['"gpt-4o"', 'application/json'], ['', 'application/json']]) {
    assert.equal((await sent('/mm/v1/chat/completions', raw!, type)).body, raw);
  }
});

test('modelKey (a JSON path) and enableOnPathSuffix; after model-router (900 before 800) it maps the model the router left', async () => {
  const r = await call('PUT', '/routes/mmk', { ...routeTo('/mmk/*', up.port), plugins: {
    'model-router': { addProviderHeader: 'x-provider' },
    'model-mapper': { modelKey: 'parameters.model', modelMapping: { 'gpt-4o': 'qwen-vl-plus' }, enableOnPathSuffix: ['/generate'] },
  } });
  assert.equal(r.status, 201, r.text);
  await eventually(async () => (await get(gw.url + '/mmk/probe')).status === 200);
  const echo = await sent('/mmk/api/generate', JSON.stringify({ parameters: { model: 'gpt-4o' }, input: 'x' }));
  assert.deepEqual(JSON.parse(echo.body), { parameters: { model: 'qwen-vl-plus' }, input: 'x' });
  assert.equal(JSON.parse((await sent('/mmk/v1/chat/completions', JSON.stringify({ parameters: { model: 'gpt-4o' } }))).body).parameters.model, 'gpt-4o');

  const both = await call('PUT', '/routes/mmr', { ...routeTo('/mmr/*', up.port), plugins: {
    'model-router': { addProviderHeader: 'x-provider' },
    'model-mapper': { modelMapping: { 'gpt-4o': 'qwen-vl-plus' } },
  } });
  assert.equal(both.status, 201, both.text);
  await eventually(async () => (await get(gw.url + '/mmr/probe')).status === 200);
  const chained = await sent('/mmr/v1/chat/completions', JSON.stringify({ model: 'openai/gpt-4o' }));
  assert.equal(chained.headers['x-provider'], 'openai');
  assert.equal(JSON.parse(chained.body).model, 'qwen-vl-plus');
});

test('log fields $model_mapper_from and $model_mapper_to; renames are counted by route', async () => {
  const before = await metricValue(gw, 'gatehouse_model_mapper_mapped_total{route="mm"}');
  await sent('/mm/v1/chat/completions?log=mapped', JSON.stringify({ model: 'gpt-4-32k' }));
  await sent('/mm/v1/chat/completions?log=kept', JSON.stringify({ model: 'claude-3' }));
  const log = join(gw.dir, 'data', 'logs', 'mm.log');
  const mapped = await logEntry(log, 'uri', '/mm/v1/chat/completions?log=mapped');
  assert.equal(mapped.from, 'gpt-4-32k');
  assert.equal(mapped.to, 'qwen-max');
  const kept = await logEntry(log, 'uri', '/mm/v1/chat/completions?log=kept');
  assert.equal(kept.from, null, 'unset: logged as null');
  assert.equal(await metricValue(gw, 'gatehouse_model_mapper_mapped_total{route="mm"}'), before + 1);
});

test('bad config is refused with a 400 naming the field', async () => {
  for (const [conf, field] of [
    [{ modelMapping: { 'gpt-4o': 1 } }, 'modelMapping'],
    [{ modelMapping: ['gpt-4o'] }, 'modelMapping'],
    [{ modelKey: 'a..b' }, 'modelKey'],
    [{ modelKey: 'model|x' }, 'modelKey'],
    [{ enableOnPathSuffix: [''] }, 'enableOnPathSuffix'],
    [{ model_mapping: {} }, 'model_mapping'],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { 'model-mapper': conf } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(field), `${JSON.stringify(conf)}: ${r.body.error_msg}`);
  }
});
