// What the AI plugin tests send and read: an OpenAI chat request (a system message and the
// user's), and the text and event data of a streamed answer.
import { get, type SimpleResponse } from './http.js';
import { SseParser } from '../../src/ai/protocol/sse.js';

export function postChat(url: string, content: string, stream = false): Promise<SimpleResponse> {
  return get(url, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', stream, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content }] }),
  });
}

/** The content of every chunk of a streamed chat answer, joined, and each event's data (`[DONE]` included). */
export function streamedChat(body: string): { text: string; events: string[] } {
  const p = new SseParser();
  const events = [...p.push(body), ...p.end()].map((e) => e.data);
  let text = '';
  for (const d of events) {
    if (d !== '[DONE]') for (const c of (JSON.parse(d) as { choices: { delta?: { content?: string } }[] }).choices) text += c.delta?.content ?? '';
  }
  return { text, events };
}
