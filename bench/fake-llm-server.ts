// The bench's model provider: one node:http process speaking OpenAI's chat completions on
//   POST /v1/chat/completions  stream: true  -> the answer of bench/ai-chat.ts as server-sent events,
//                                              each event its own write, as fast as the socket takes
//                                              them (no delay anywhere: time to first token through
//                                              the gateway is then the gateway's own)
//                              stream: false -> the same answer as one JSON chat completion
//   GET  /health               -> 200 (readiness)
// The answers are built once per (model, include_usage) and kept. Lean on purpose (no recording,
// no scripted failures): the test fake in test/helpers/fake-llm.ts is for tests, not for load.
// Usage: node dist/bench/fake-llm-server.js --port=<port>   (binds 127.0.0.1 only)
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AI_PATH, chatCompletion, streamedChatEvents } from './ai-chat.js';
import { serveOnLoopback } from './serve-loopback.js';

const MAX_MODELS = 16;
const answers = new Map<string, { events: string[] } | { json: string }>();

function answerFor(model: string, stream: boolean, includeUsage: boolean): { events: string[] } | { json: string } {
  const key = `${stream ? (includeUsage ? 'su' : 's') : 'j'}:${model}`;
  let answer = answers.get(key);
  if (answer === undefined) {
    answer = stream ? { events: streamedChatEvents(model, includeUsage) } : { json: chatCompletion(model) };
    if (answers.size < MAX_MODELS) answers.set(key, answer);
  }
  return answer;
}

function send(res: ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function streamEvents(res: ServerResponse, events: string[]): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const event of events) {
    if (res.destroyed) return;
    // backpressure: a reader that stops reading stops the provider too
    if (!res.write(event)) await new Promise((r) => res.once('drain', r));
  }
  res.end();
}

function chat(body: string, res: ServerResponse): void {
  let json: { model?: unknown; stream?: unknown; stream_options?: { include_usage?: unknown } };
  try {
    json = JSON.parse(body);
  } catch {
    return send(res, 400, JSON.stringify({ error: { message: 'could not parse JSON body', type: 'invalid_request_error' } }), 'application/json');
  }
  const model = typeof json.model === 'string' ? json.model : 'fake-model';
  const answer = answerFor(model, json.stream === true, json.stream_options?.include_usage === true);
  if ('json' in answer) return send(res, 200, answer.json, 'application/json');
  void streamEvents(res, answer.events);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?', 1)[0];
  if (req.method === 'GET' && path === '/health') return send(res, 200, 'ok\n', 'text/plain');
  if (req.method !== 'POST' || path !== AI_PATH) {
    req.resume();
    return send(res, 404, JSON.stringify({ error: { message: `no route ${req.method} ${path}` } }), 'application/json');
  }
  const parts: Buffer[] = [];
  req.on('data', (b: Buffer) => parts.push(b));
  req.on('end', () => chat(Buffer.concat(parts).toString('utf8'), res));
}

serveOnLoopback('fake LLM provider', handle);
