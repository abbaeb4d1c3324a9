import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from '../../helpers/loopback-server.js';
import { get, type SimpleResponse } from '../../helpers/http.js';
import { adminClient, routeTo, type AdminCall } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

// One loopback server speaks the four search contracts (Google Custom Search, Bing Web
// Search v7, Elasticsearch _search, arXiv's Atom API) and records what it was asked; an
// echo upstream shows the rewritten prompt, a fake model answers JSON or SSE for the
// references. A question containing "nothing" finds nothing; key "bad" is refused by
// Bing; index "slow" makes Elasticsearch too slow.
let gw: Gateway;
let echo: TestUpstream;
let call: AdminCall;
let engines: LoopbackServer;
let model: LoopbackServer;
const asked: ReceivedRequest[] = [];

function json(res: ServerResponse, status: number, doc: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(doc));
}

const ATOM = `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><entry>
  <title>Gateways &amp; Models</title><summary>A survey of AI gateways.</summary><published>2024-01-02T00:00:00Z</published>
  <author><name>Ada</name></author><author><name>Alan</name></author>
  <link href="http://arxiv.org/abs/1" rel="alternate" type="text/html"/><link href="http://arxiv.org/pdf/1" rel="related" type="application/pdf"/>
</entry></feed>`;

function answerSearch(req: ReceivedRequest, res: ServerResponse): void {
  asked.push(req);
  const url = new URL(req.url, 'http://x');
  const nothing = url.search.includes('nothing') || req.body.toString().includes('nothing');
  if (url.pathname === '/customsearch/v1') {
    return json(res, 200, { items: nothing ? [] : [
      { title: 'Google hit', link: 'https://g.example/1', snippet: 'Gatehouse is a gateway.', pagemap: { metatags: [{ 'og:description': 'An API gateway.' }] } },
      { title: 'Shared hit', link: 'https://shared.example/', snippet: 'Seen by two engines.' },
    ] });
  }
  if (url.pathname === '/v7.0/search') {
    if (req.headers['ocp-apim-subscription-key'] === 'bad') return json(res, 401, { error: 'bad key' });
    return json(res, 200, nothing ? {} : {
      webPages: { value: [{ name: 'Bing hit', url: 'https://b.example/1', snippet: 'Port $1 is 9080.', deepLinks: [{ name: 'Deep', url: 'https://b.example/deep', snippet: 'A deep link.' }] },
        { name: 'Shared again', url: 'https://shared.example/', snippet: 'Duplicate.' }] },
      news: { value: [{ name: 'News', url: 'https://b.example/news', description: 'Gatehouse 1.0 released.' }] },
    });
  }
  if (url.pathname.endsWith('/_search')) {
    const reply = (): void => json(res, 200, { hits: { hits: nothing ? [] : [{ _source: { t: 'KB page', u: 'https://kb.example/1', body: 'Internal: port 9080.' } }] } });
    if (url.pathname === '/slow/_search') { setTimeout(reply, 1500); return; }
    return reply();
  }
  if (url.pathname === '/llm/v1/chat/completions') {
    const prompt = String(JSON.parse(req.body.toString()).messages[0].content);
    if (prompt.includes('please translate')) return json(res, 200, { choices: [{ message: { role: 'assistant', content: 'none' } }] });
    if (prompt.includes('break the model')) return json(res, 500, { error: 'down' });
    return json(res, 200, { choices: [{ message: { role: 'assistant', content: 'internet: rewritten web query\nprivate: port, gatehouse\ncs.AI: gateway\nnot a query line' } }] });
  }
  if (url.pathname === '/api/query') {
    res.writeHead(200, { 'content-type': 'application/atom+xml' });
    res.end(nothing ? '<feed xmlns="http://www.w3.org/2005/Atom"></feed>' : ATOM);
    return;
  }
  json(res, 404, {});
}

/** A chat model: "The answer." as JSON, or streamed in three chunks for `stream: true`. */
function answerChat(req: ReceivedRequest, res: ServerResponse): void {
  if (JSON.parse(req.body.toString()).stream === true) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (delta: Record<string, unknown>, finish: string | null): string =>
      `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }, null));
    res.write(chunk({ content: 'The ' }, null));
    res.end(chunk({ content: 'answer.' }, 'stop') + 'data: [DONE]\n\n');
    return;
  }
  json(res, 200, { object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'The answer.' }, finish_reason: 'stop' }] });
}

const port = (): number => Number(new URL(engines.url).port);
const at = (): { serviceName: string; servicePort: number } => ({ serviceName: '127.0.0.1', servicePort: port() });
const GOOGLE = (): Record<string, unknown> => ({ type: 'google', apiKey: 'g-key', cx: 'cx-1', count: 5, ...at() });
const BING = (apiKey = 'b-key'): Record<string, unknown> => ({ type: 'bing', apiKey, ...at() });
const ES = (index = 'docs', timeoutMillisecond = 5000): Record<string, unknown> => ({ type: 'elasticsearch', index, contentField: 'body',
  semanticTextField: 'body_semantic', linkField: 'u', titleField: 't', username: 'elastic', password: 'pw', timeoutMillisecond, ...at() });
const ARXIV = (): Record<string, unknown> => ({ type: 'arxiv', arxivCategory: 'cs.AI', ...at() });

const chat = (content: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ model: 'gpt-4o', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content }], ...extra });

const ask = (path: string, body: unknown): Promise<SimpleResponse> =>
  get(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The body the echo upstream got. */
async function sent(path: string, body: unknown): Promise<{ messages: { role: string; content: string }[] } & Record<string, unknown>> {
  const r = await ask(path, body);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.json<{ body: string }>().body);
}

async function putRoute(id: string, uri: string, upstreamPort: number, plugins: Record<string, unknown>): Promise<void> {
  const r = await call('PUT', `/routes/${id}`, { ...routeTo(uri, upstreamPort), plugins });
  assert.equal(r.status, 201, r.text);
  await eventually(async () => (await ask(uri.replace('*', 'probe'), chat('probe'))).status === 200);
}

before(async () => {
  engines = await startLoopbackServer(answerSearch);
  model = await startLoopbackServer(answerChat);
  echo = await startUpstream('echo');
  gw = await startGateway({ store: 'sqlite', workers: 1 });
  call = adminClient(gw);
  await putRoute('ns', '/ns/*', echo.port, {
    prometheus: {},
    'file-logger': { path: 'ns.log', log_format: { uri: '$request_uri', status: '$ai_network_search_status',
      results: '$ai_network_search_results', failed: '$ai_network_search_failed_engines' } },
    'ai-network-search': { defaultLang: 'en-US', promptTemplate: 'Date {cur_date}\n{search_results}\nQ: {question}', searchFrom: [GOOGLE(), BING(), ES(), ARXIV()] },
  });
  const modelPort = Number(new URL(model.url).port);
  await putRoute('ns-head', '/nsh/*', modelPort, { 'ai-network-search': { needReference: true, searchFrom: [GOOGLE()] } });
  await putRoute('ns-tail', '/nst/*', modelPort, { 'ai-network-search': { needReference: true, referenceLocation: 'tail', referenceFormat: 'Sources:\n%s', searchFrom: [BING()] } });
});

after(async () => {
  await gw?.stop();
  await echo?.close();
  engines?.server.close();
  model?.server.close();
});

test('every engine is asked, results merged (first of each link) and the question replaced by the template', async () => {
  asked.length = 0;
  const body = await sent('/ns/v1/chat/completions', chat('What port does Gatehouse use?'));
  const today = new Date().toISOString().slice(0, 10);
  assert.equal(body.messages[0]!.content, 'Be brief.');
  assert.equal(body.messages[1]!.content, `Date ${today}\n${[
    'Gatehouse is a gateway.\n...\nAn API gateway.', 'Seen by two engines.', 'Port $1 is 9080.', 'A deep link.', 'Gatehouse 1.0 released.',
    'Internal: port 9080.', 'A survey of AI gateways.\nAuthors: Ada, Alan\nPublication time: 2024-01-02T00:00:00Z',
  ].map((c) => `[webpage begin]\n${c}\n[webpage end]`).join('\n')}\nQ: What port does Gatehouse use?`);

  const byPath = (p: string): ReceivedRequest => asked.find((r) => new URL(r.url, 'http://x').pathname === p)!;
  const google = new URL(byPath('/customsearch/v1').url, 'http://x').searchParams;
  assert.deepEqual(Object.fromEntries(google), { cx: 'cx-1', q: 'What port does Gatehouse use?', num: '5', key: 'g-key', start: '1', lr: 'lang_en-US' });
  const bing = byPath('/v7.0/search');
  assert.equal(bing.headers['ocp-apim-subscription-key'], 'b-key');
  assert.deepEqual(Object.fromEntries(new URL(bing.url, 'http://x').searchParams), { q: 'What port does Gatehouse use?', count: '10', offset: '0', mkt: 'en-US' });
  const es = byPath('/docs/_search');
  assert.equal(es.method, 'POST');
  assert.equal(new URL(es.url, 'http://x').search, '?from=0&size=10');
  assert.equal(es.headers.authorization, `Basic ${Buffer.from('elastic:pw').toString('base64')}`);
  assert.deepEqual(JSON.parse(es.body.toString()), { retriever: { rrf: { retrievers: [
    { standard: { query: { match: { body: 'What port does Gatehouse use?' } } } },
    { standard: { query: { semantic: { field: 'body_semantic', query: 'What port does Gatehouse use?' } } } },
  ] } } });
  const arxiv = byPath('/api/query');
  assert.equal(new URL(arxiv.url, 'http://x').search, '?search_query=all:What%20port%20does%20Gatehouse%20use%3F+AND+cat:cs.AI&max_results=10&start=0');
  assert.equal(arxiv.headers.accept, 'application/atom+xml');
});

test('a failed or slow engine leaves the others; no results leave the request as it came', async () => {
  await putRoute('ns-fail', '/nsf/*', echo.port, { 'ai-network-search': { searchFrom: [BING('bad'), ES('slow', 300), GOOGLE()] } });
  const body = await sent('/nsf/v1/chat/completions?log=fail', chat('port?'));
  assert.match(body.messages[1]!.content, /Gatehouse is a gateway\./);
  assert.doesNotMatch(body.messages[1]!.content, /Port \$1|Internal/);
  const untouched = chat('nothing at all');
  assert.deepEqual(await sent('/ns/v1/chat/completions?log=none', untouched), untouched);
  assert.deepEqual(await sent('/ns/v1/chat/completions', { model: 'm', messages: [{ role: 'assistant', content: 'hi' }] }),
    { model: 'm', messages: [{ role: 'assistant', content: 'hi' }] }, 'no user message: nothing to search');
});

test('needReference: references at the head (JSON answer) and the tail (streamed answer), numbered results', async () => {
  const head = await ask('/nsh/v1/chat/completions', chat('port?'));
  assert.equal(head.status, 200, head.body);
  assert.equal(head.json<{ choices: { message: { content: string } }[] }>().choices[0]!.message.content,
    '**References:**\n[1] [Google hit](https://g.example/1)\n\n[2] [Shared hit](https://shared.example/)\n\nThe answer.');
  const headStream = await ask('/nsh/v1/chat/completions', chat('port?', { stream: true }));
  const deltas = (text: string): string => text.split('\n').filter((l) => l.startsWith('data: {'))
    .map((l) => JSON.parse(l.slice(6)).choices[0].delta.content ?? '').join('');
  assert.equal(deltas(headStream.body), '**References:**\n[1] [Google hit](https://g.example/1)\n\n[2] [Shared hit](https://shared.example/)\n\nThe answer.');
  const tail = await ask('/nst/v1/chat/completions', chat('port?', { stream: true }));
  assert.equal(tail.status, 200);
  assert.match(String(tail.headers['content-type']), /text\/event-stream/);
  assert.equal(deltas(tail.body), 'The answer.\n\nSources:\n[1] [Bing hit](https://b.example/1)\n\n[2] [Deep](https://b.example/deep)\n\n[3] [Shared again](https://shared.example/)\n\n[4] [News](https://b.example/news)');
  assert.ok(tail.body.endsWith('data: [DONE]\n\n'));
});

test('the numbered default prompt with needReference; defaultEnable false searches only with web_search_options', async () => {
  await putRoute('ns-opt', '/nso/*', echo.port, { 'ai-network-search': { defaultEnable: false, needReference: true, searchFrom: [GOOGLE()] } });
  const plain = chat('port?');
  assert.deepEqual(await sent('/nso/v1/chat/completions', plain), plain);
  const body = await sent('/nso/v1/chat/completions', chat('port?', { web_search_options: {} }));
  assert.match(body.messages[1]!.content, /\[webpage 1 begin\]\nGatehouse is a gateway\.\n\.\.\.\nAn API gateway\.\n\[webpage 1 end\]\n\[webpage 2 begin\]/);
  assert.match(body.messages[1]!.content, /# The user's message:\nport\?$/);
});

test('searchRewrite: the queries of the model go to the engines of their kind; "none" or a failed model leave the request', async () => {
  await putRoute('ns-rw', '/nsr/*', echo.port, { 'ai-network-search': { promptTemplate: '{search_results}\nQ: {question}', searchFrom: [GOOGLE(), ES(), ARXIV()],
    searchRewrite: { llmServiceName: '127.0.0.1', llmServicePort: port(), llmUrl: '/llm/v1/chat/completions', llmModelName: 'qwen-turbo', llmApiKey: 'llm-key' } } });
  asked.length = 0;
  const body = await sent('/nsr/v1/chat/completions', chat('What port does Gatehouse use?', { web_search_options: { search_context_size: 'high' } }));
  assert.match(body.messages[1]!.content, /Gatehouse is a gateway[\s\S]*Internal: port 9080[\s\S]*A survey of AI gateways[\s\S]*Q: What port does Gatehouse use\?$/);
  const llm = asked.find((r) => r.url === '/llm/v1/chat/completions')!;
  assert.equal(llm.headers.authorization, 'Bearer llm-key');
  const llmBody = JSON.parse(llm.body.toString());
  assert.deepEqual([llmBody.model, llmBody.stream, llmBody.max_tokens], ['qwen-turbo', false, 4096]);
  assert.match(llmBody.messages[0].content, /at most 5 lines[\s\S]*internet:[\s\S]*private:[\s\S]*arXiv[\s\S]*What port does Gatehouse use\?$/);
  const paths = (p: string): URL[] => asked.map((r) => new URL(r.url, 'http://x')).filter((u) => u.pathname === p);
  assert.deepEqual(paths('/customsearch/v1').map((u) => u.searchParams.get('q')), ['rewritten web query']);
  assert.deepEqual(asked.filter((r) => r.url.startsWith('/docs/_search')).map((r) => JSON.parse(r.body.toString()).retriever.rrf.retrievers[0].standard.query.match.body), ['port gatehouse']);
  assert.deepEqual(paths('/api/query').map((u) => u.search.split('&')[0]).sort(), ['?search_query=all:gateway', '?search_query=all:gateway+AND+cat:cs.AI']);
  for (const question of ['please translate this', 'break the model']) {
    const untouched = chat(question);
    assert.deepEqual(await sent('/nsr/v1/chat/completions', untouched), untouched);
  }
});

test('log fields $ai_network_search_* and engine calls counted by result', async () => {
  const timeouts = await metricValue(gw, 'gatehouse_ai_network_search_engine_calls_total{route="ns-fail",engine="elasticsearch",result="timeout"}');
  await sent('/ns/v1/chat/completions?log=ok', chat('port?'));
  await sent('/nsf/v1/chat/completions?log=failed', chat('port?'));
  const log = join(gw.dir, 'data', 'logs', 'ns.log');
  const ok = await logEntry(log, 'uri', '/ns/v1/chat/completions?log=ok');
  assert.deepEqual([ok.status, ok.results, ok.failed], ['searched', 7, null]);
  const none = await logEntry(log, 'uri', '/ns/v1/chat/completions?log=none');
  assert.deepEqual([none.status, none.results], ['no_results', 0]);
  assert.equal(await metricValue(gw, 'gatehouse_ai_network_search_engine_calls_total{route="ns-fail",engine="elasticsearch",result="timeout"}'), timeouts + 1);
  assert.ok(await metricValue(gw, 'gatehouse_ai_network_search_engine_calls_total{route="ns-fail",engine="bing",result="bad_status"}') >= 1);
  assert.ok(await metricValue(gw, 'gatehouse_ai_network_search_engine_calls_total{route="ns",engine="arxiv",result="ok"}') >= 1);
});

test('bad config is refused with a 400 naming the field', async () => {
  const google = GOOGLE();
  for (const [conf, field] of [
    [{}, 'searchFrom'],
    [{ searchFrom: [] }, 'searchFrom'],
    [{ searchFrom: [{ ...google, type: 'quark' }] }, 'type'],
    [{ searchFrom: [{ ...google, cx: undefined }] }, 'cx'],
    [{ searchFrom: [{ ...google, count: 11 }] }, 'count'],
    [{ searchFrom: [{ ...BING(), cx: 'x' }] }, 'cx'],
    [{ searchFrom: [{ ...BING(), serviceName: 'bing.dns' }] }, 'serviceName'],
    [{ searchFrom: [{ ...BING(), servicePort: undefined }] }, 'servicePort'],
    [{ searchFrom: [{ ...ES(), semanticTextField: undefined }] }, 'semanticTextField'],
    [{ searchFrom: [google], referenceFormat: 'no placeholder' }, 'referenceFormat'],
    [{ searchFrom: [google], referenceLocation: 'middle' }, 'referenceLocation'],
    [{ searchFrom: [google], promptTemplate: '{search_results} only' }, 'promptTemplate'],
    [{ searchFrom: [google], searchRewrite: { llmServiceName: 'x', llmServicePort: 443, llmUrl: '/v1' } }, 'llmModelName'],
    [{ searchFrom: [google], searchRewrite: { llmServiceName: 'x', llmServicePort: 443, llmUrl: 'v1', llmModelName: 'm' } }, 'llmUrl'],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', echo.port), plugins: { 'ai-network-search': JSON.parse(JSON.stringify(conf)) } });
    assert.equal(r.status, 400, `${JSON.stringify(conf)}: ${r.text}`);
    assert.match(r.body.error_msg, new RegExp(field), `${JSON.stringify(conf)}: ${r.body.error_msg}`);
  }
});
