import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerText, chatCompletion, postChat } from './llm-client.js';

// A loopback server answering by path: the client's outcomes, each a typed reply.
let server: http.Server;
let base: string;
const seen: http.IncomingHttpHeaders[] = [];

before(async () => {
  server = http.createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      if (req.url === '/ok') res.end(JSON.stringify({ choices: [{ message: { content: 'hi' } }], usage: { total_tokens: 5 } }));
      else if (req.url === '/big') res.end(JSON.stringify({ pad: 'x'.repeat(5000) }));
      else if (req.url === '/text') res.end('not json');
      else if (req.url === '/slow') setTimeout(() => res.end('{}'), 1000).unref();
      else res.writeHead(429).end('slow down');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => { server.closeAllConnections(); server.close(); });

test('an answer: its text, usage, the bearer key sent', async () => {
  const r = await chatCompletion({ url: `${base}/ok`, apiKey: 'sk-1', timeoutMs: 2000 }, 'm', [{ role: 'user', content: 'q' }]);
  assert.ok(r.ok);
  assert.equal(r.text, 'hi');
  assert.deepEqual(r.usage, { total_tokens: 5 });
  assert.equal(seen.at(-1)!.authorization, 'Bearer sk-1');
});

test('failures are typed: status, not JSON, too large, timeout, aborted, unreachable', async () => {
  const kind = async (path: string, opts: { maxAnswerBytes?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string> => {
    const r = await postChat({ url: `${base}${path}`, timeoutMs: opts.timeoutMs ?? 2000, maxAnswerBytes: opts.maxAnswerBytes }, {}, opts.signal);
    assert.equal(r.ok, false);
    return r.ok ? '' : r.kind;
  };
  assert.equal(await kind('/limited'), 'status');
  assert.equal(await kind('/text'), 'not_json');
  assert.equal(await kind('/big', { maxAnswerBytes: 1000 }), 'too_large');
  assert.equal(await kind('/slow', { timeoutMs: 100 }), 'timeout');
  assert.equal(await kind('/slow', { signal: AbortSignal.abort() }), 'aborted');
  const closed = await postChat({ url: 'http://127.0.0.1:1/x', timeoutMs: 2000 }, {});
  assert.equal(closed.ok ? '' : closed.kind, 'network');
});

test('answerText reads OpenAI chat and DashScope native answers', () => {
  assert.equal(answerText({ output: { text: 'native' } }), 'native');
  assert.equal(answerText({ output: { choices: [{ message: { content: 'message format' } }] } }), 'message format');
  assert.equal(answerText({ choices: [] }), undefined);
});
