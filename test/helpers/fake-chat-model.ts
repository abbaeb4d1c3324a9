import type { ServerResponse } from 'node:http';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from './loopback-server.js';

// A model on loopback for the plugins that call one themselves (ai-intent, ai-json,
// ai-transformer): it answers each OpenAI-style chat request as `reply` decides from the
// last message's text, in the chat-completion shape (or DashScope's native one).

export interface FakeReply {
  /** The answer text; the reply is a chat completion carrying it. */
  content?: string;
  /** HTTP status (default 200). */
  status?: number;
  /** A body sent as is instead of a chat completion. */
  raw?: string;
  /** ms to wait before answering. */
  delayMs?: number;
  /** Answer in DashScope's native shape (`output.text`). */
  dashscope?: boolean;
}

export interface FakeChatModel extends LoopbackServer {
  received: ReceivedRequest[];
  /** The last message's text of every request, in order. */
  prompts: string[];
}

export async function startFakeChatModel(reply: (lastMessage: string, body: any, req: ReceivedRequest) => FakeReply): Promise<FakeChatModel> {
  const received: ReceivedRequest[] = [];
  const prompts: string[] = [];
  const server = await startLoopbackServer((req, res: ServerResponse) => {
    received.push(req);
    let body: any;
    try {
      body = JSON.parse(req.body.toString('utf8'));
    } catch {
      res.writeHead(400).end('not json');
      return;
    }
    const messages = body.messages ?? body.input?.messages ?? [];
    const last = String(messages.at(-1)?.content ?? '');
    prompts.push(last);
    const r = reply(last, body, req);
    const send = (): void => {
      if (res.destroyed) return;
      const text = r.raw ?? JSON.stringify(r.dashscope === true
        ? { output: { text: r.content ?? '', finish_reason: 'stop' }, usage: { input_tokens: 3, output_tokens: 2 } }
        : { id: 'c1', object: 'chat.completion', model: body.model ?? 'fake',
            choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: r.content ?? '' } }],
            usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } });
      res.writeHead(r.status ?? 200, { 'content-type': 'application/json' }).end(text);
    };
    if (r.delayMs === undefined) send();
    else setTimeout(send, r.delayMs).unref();
  });
  return { ...server, received, prompts };
}
