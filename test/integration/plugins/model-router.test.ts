import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Gateway } from '../../helpers/gateway.js';
import { eventually } from '../../helpers/gateway.js';
import { startWithAdminRoute } from '../../helpers/admin-route.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get, type SimpleResponse } from '../../helpers/http.js';
import { routeTo, type AdminCall } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

let gw: Gateway;
let up: TestUpstream;
let deepseek: TestUpstream;
let call: AdminCall;

const ROUTER = {
  modelToHeader: 'x-higress-llm-model',
  addProviderHeader: 'x-higress-llm-provider',
  autoRouting: {
    enable: true,
    defaultModel: 'qwen-turbo',
    rules: [
      { pattern: '(?i)(draw|paint|image)', model: 'qwen-vl-max' },
      { pattern: '(?i)\\b(code|debug)\\b', model: 'qwen-coder' },
    ],
  },
};

interface Echo { upstream: string; headers: Record<string, string | undefined>; body: string }

async function post(path: string, body: string | Buffer, contentType = 'application/json'): Promise<SimpleResponse> {
  return get(gw.url + path, { method: 'POST', headers: { 'content-type': contentType }, body });
}

async function echoOf(path: string, json: unknown): Promise<Echo> {
  const r = await post(path, JSON.stringify(json));
  assert.equal(r.status, 200, r.body);
  return r.json<Echo>();
}

async function putRoute(id: string, plugins: Record<string, unknown>): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, { ...routeTo(`/${id}/*`, up.port), plugins });
  assert.ok(r.status === 200 || r.status === 201, r.text);
  await eventually(async () => (await get(`${gw.url}/${id}/probe`)).status === 200);
}

const chat = (model: unknown, content: unknown = 'hello'): Record<string, unknown> =>
  ({ model, stream: false, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content }] });

before(async () => {
  deepseek = await startUpstream('deepseek');
  ({ gw, up, call } = await startWithAdminRoute('mr', '/mr/*', {
    prometheus: {},
    'file-logger': { path: 'mr.log', log_format: { uri: '$request_uri', model: '$model_router_model', provider: '$model_router_provider', auto: '$model_router_auto' } },
    'model-router': ROUTER,
  }, { path: '/mr/probe' }));
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await deepseek?.close();
});

test('the model goes into modelToHeader; a provider/model name is split: the provider into addProviderHeader, the body keeps the model', async () => {
  const echo = await echoOf('/mr/v1/chat/completions', chat('openai/gpt-4o'));
  assert.equal(echo.headers['x-higress-llm-model'], 'openai/gpt-4o');
  assert.equal(echo.headers['x-higress-llm-provider'], 'openai');
  assert.deepEqual(JSON.parse(echo.body), chat('gpt-4o'), 'only the model changed');
  const plain = await echoOf('/mr/v1/embeddings', { model: 'text-embedding-3-small', input: 'x' });
  assert.equal(plain.headers['x-higress-llm-model'], 'text-embedding-3-small');
  assert.equal(plain.headers['x-higress-llm-provider'], undefined);
  assert.equal(plain.body, JSON.stringify({ model: 'text-embedding-3-small', input: 'x' }), 'a body it does not change is sent as it came');
});

test('a header the client sent is replaced; paths off enableOnPathSuffix, bodies that are not JSON and bodies without a model pass untouched', async () => {
  const r = await get(gw.url + '/mr/v1/chat/completions?x=1', { method: 'POST', headers: { 'content-type': 'application/json', 'x-higress-llm-provider': 'spoofed' }, body: JSON.stringify(chat('qwen/qwen-max')) });
  assert.equal(r.json<Echo>().headers['x-higress-llm-provider'], 'qwen');
  const off = await echoOf('/mr/v1/models', chat('openai/gpt-4o'));
  assert.equal(off.headers['x-higress-llm-model'], undefined);
  assert.equal(JSON.parse(off.body).model, 'openai/gpt-4o');
  for (const [body, type] of [['{"model": "openai/gpt-4o"', 'application/json'], ['model=openai/gpt-4o', 'application/x-www-form-urlencoded'], ['[1,2]', 'application/json'], ['{"model": 42}', 'application/json'], ['{}', 'application/json']]) {
    const res = await post('/mr/v1/chat/completions', body!, type);
    assert.equal(res.status, 200, `${body}: never refused`);
    assert.equal(res.json<Echo>().body, body);
    assert.equal(res.json<Echo>().headers['x-higress-llm-model'], undefined);
  }
  const crlf = await echoOf('/mr/v1/chat/completions', chat('bad\r\nx-evil: 1'));
  assert.equal(crlf.headers['x-higress-llm-model'], undefined, 'a model that is not printable ASCII is not copied to a header');
  assert.equal(crlf.headers['x-evil'], undefined);
});

test('higress/auto: the first RE2 rule matching the last user message picks the model, else defaultModel', async () => {
  const drawn = await echoOf('/mr/v1/chat/completions', { model: 'higress/auto', messages: [{ role: 'user', content: 'write code' }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'Now DRAW a cat' }] });
  assert.equal(drawn.headers['x-higress-llm-model'], 'qwen-vl-max');
  assert.equal(JSON.parse(drawn.body).model, 'qwen-vl-max');
  assert.equal(drawn.headers['x-higress-llm-provider'], undefined, 'auto routing sets only x-higress-llm-model');
  const multimodal = await echoOf('/mr/v1/chat/completions', chat('higress/auto', [{ type: 'image_url', image_url: { url: 'x' } }, { type: 'text', text: 'debug this' }]));
  assert.equal(multimodal.headers['x-higress-llm-model'], 'qwen-coder');
  const other = await echoOf('/mr/v1/chat/completions', chat('higress/auto', 'what time is it'));
  assert.equal(other.headers['x-higress-llm-model'], 'qwen-turbo');
  assert.equal(JSON.parse(other.body).model, 'qwen-turbo');
});

test('multipart/form-data: the model field is read and split, every other byte of the form is kept', async () => {
  const boundary = 'gatehouse-form-1';
  const audio = Buffer.from([0, 1, 2, 255, 13, 10, 45, 45]);
  const part = (headers: string, value: Buffer | string): Buffer => Buffer.concat([Buffer.from(`--${boundary}\r\n${headers}\r\n\r\n`), Buffer.from(value), Buffer.from('\r\n')]);
  const form = (model: string): Buffer => Buffer.concat([
    part('Content-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav', audio),
    part('Content-Disposition: form-data; name="model"', model),
    Buffer.from(`--${boundary}--\r\n`),
  ]);
  const r = await post('/mr/v1/audio/speech', form('openai/tts-1'), `multipart/form-data; boundary=${boundary}`);
  assert.equal(r.status, 200);
  const echo = r.json<Echo>();
  assert.equal(echo.headers['x-higress-llm-model'], 'openai/tts-1');
  assert.equal(echo.headers['x-higress-llm-provider'], 'openai');
  assert.equal(echo.body, form('tts-1').toString());
  assert.equal(echo.headers['content-length'], String(form('tts-1').length));
});

test('routing end to end: canary-header on the provider header sends deepseek/* to another upstream', async () => {
  await putRoute('mrc', {
    'model-router': { addProviderHeader: 'x-higress-llm-provider' },
    'canary-header': { header: 'x-higress-llm-provider', value: 'deepseek', upstream: { nodes: { [`127.0.0.1:${deepseek.port}`]: 1 } } },
  });
  const ds = await echoOf('/mrc/v1/chat/completions', chat('deepseek/deepseek-chat'));
  assert.equal(ds.upstream, 'deepseek');
  assert.equal(JSON.parse(ds.body).model, 'deepseek-chat');
  assert.equal((await echoOf('/mrc/v1/chat/completions', chat('openai/gpt-4o'))).upstream, 'a');
  assert.equal((await echoOf('/mrc/v1/chat/completions', chat('gpt-4o'))).upstream, 'a');
});

test('routing end to end: modelUpstreams (a Gatehouse extension) sends each model to its upstream, first match in order', async () => {
  assert.equal((await call('PUT', '/upstreams/mr-deepseek', { nodes: { [`127.0.0.1:${deepseek.port}`]: 1 } })).status, 201);
  await putRoute('mru', {
    'model-router': {
      addProviderHeader: 'x-higress-llm-provider',
      autoRouting: { enable: true, rules: [{ pattern: 'reason', model: 'deepseek-reasoner' }] },
      modelUpstreams: [
        { model: 'deepseek/*', upstream_id: 'mr-deepseek' },
        { model: 'deepseek-reasoner', upstream_id: 'mr-deepseek' },
        { model: 'local', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 }, pass_host: 'rewrite', upstream_host: 'local.internal' } },
      ],
    },
  });
  const ds = await echoOf('/mru/v1/chat/completions', chat('deepseek/deepseek-chat'));
  assert.equal(ds.upstream, 'deepseek');
  assert.equal(ds.headers['x-higress-llm-provider'], 'deepseek');
  assert.equal((await echoOf('/mru/v1/chat/completions', chat('higress/auto', 'reason about it'))).upstream, 'deepseek', 'the model auto routing chose');
  const local = await echoOf('/mru/v1/chat/completions', chat('local'));
  assert.equal(local.upstream, 'a');
  assert.equal(local.headers.host, 'local.internal', 'the inline upstream');
  const other = await echoOf('/mru/v1/chat/completions', chat('openai/gpt-4o'));
  assert.equal(other.upstream, 'a');
  assert.notEqual(other.headers.host, 'local.internal', 'no match: the route\'s upstream');
  const del = await call('DELETE', '/upstreams/mr-deepseek');
  assert.equal(del.status, 400);
  assert.equal(del.body.error_msg, 'can not delete this upstream, plugin in route [mru] is still using it now');
});

test('log fields $model_router_model, $model_router_provider, $model_router_auto; routed requests are counted by route', async () => {
  const routed = await metricValue(gw, 'gatehouse_model_router_routed_total{route="mr"}');
  const auto = await metricValue(gw, 'gatehouse_model_router_auto_routed_total{route="mr"}');
  await echoOf('/mr/v1/chat/completions?log=split', chat('openai/gpt-4o'));
  await echoOf('/mr/v1/chat/completions?log=auto', chat('higress/auto', 'paint it'));
  await echoOf('/mr/v1/models?log=off', chat('openai/gpt-4o'));
  const log = join(gw.dir, 'data', 'logs', 'mr.log');
  const split = await logEntry(log, 'uri', '/mr/v1/chat/completions?log=split');
  assert.equal(split.model, 'openai/gpt-4o');
  assert.equal(split.provider, 'openai');
  const chosen = await logEntry(log, 'uri', '/mr/v1/chat/completions?log=auto');
  assert.equal(chosen.model, 'qwen-vl-max');
  assert.equal(chosen.auto, 'rule');
  const off = await logEntry(log, 'uri', '/mr/v1/models?log=off');
  assert.equal(off.model, null, 'unset: logged as null');
  assert.equal(await metricValue(gw, 'gatehouse_model_router_routed_total{route="mr"}'), routed + 2);
  assert.equal(await metricValue(gw, 'gatehouse_model_router_auto_routed_total{route="mr"}'), auto + 1);
});

test('bad config is refused with a 400 naming the field', async () => {
  for (const [conf, field] of [
    [{ modelToHeader: 'a b' }, 'modelToHeader'],
    [{ addProviderHeader: '' }, 'addProviderHeader'],
    [{ modelKey: 'messages.*.model' }, 'modelKey'],
    [{ enableOnPathSuffix: '/completions' }, 'enableOnPathSuffix'],
    [{ autoRouting: { rules: [] } }, 'enable'],
    [{ autoRouting: { enable: true, rules: [{ pattern: '(a', model: 'm' }] } }, 'autoRouting.rules\\[0\\].pattern'],
    [{ autoRouting: { enable: true, rules: [{ pattern: '(?=a)', model: 'm' }] } }, 'autoRouting.rules\\[0\\].pattern'],
    [{ autoRouting: { enable: false, rules: [{ pattern: 'ok', model: 'm' }, { pattern: '[', model: 'm' }] } }, 'autoRouting.rules\\[1\\].pattern'],
    [{ autoRouting: { enable: true, rules: [{ pattern: 'a' }] } }, 'model'],
    [{ modelUpstreams: [{ model: 'x' }] }, 'modelUpstreams\\[0\\]: upstream or upstream_id'],
    [{ modelUpstreams: [{ model: 'x', upstream_id: 'u', upstream: { nodes: { '127.0.0.1:1': 1 } } }] }, 'modelUpstreams\\[0\\]'],
    [{ modelUpstreams: [{ model: 'x', upstream: { nodes: {}, type: 'fastest' } }] }, 'modelUpstreams\\[0\\].upstream'],
    [{ serviceName: 'x.dns' }, 'serviceName'],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { 'model-router': conf } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(field), `${JSON.stringify(conf)}: ${r.body.error_msg}`);
  }
});
