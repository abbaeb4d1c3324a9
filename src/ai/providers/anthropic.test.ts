import { test } from 'node:test';
import assert from 'node:assert/strict';
import adapter, { toAnthropicRequest, toOpenAiResponse } from './anthropic.js';

test('an OpenAI chat request as a messages request: system lifted, parts and images converted, max_tokens given', () => {
  assert.deepEqual(toAnthropicRequest({
    model: 'claude', user: 'u1', max_completion_tokens: 99, stream: true, stream_options: { include_usage: true },
    messages: [
      { role: 'system', content: 'one' }, { role: 'developer', content: [{ type: 'text', text: 'two' }] },
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
        { type: 'image_url', image_url: { url: 'https://x/y.png' } }] },
      { role: 'assistant', content: 'ok' },
    ],
  }), {
    model: 'claude', max_tokens: 99, stream: true, system: 'one\n\ntwo', metadata: { user_id: 'u1' },
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
        { type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] },
      { role: 'assistant', content: 'ok' },
    ],
  });
});

test('tool calling and several choices are refused, not dropped', () => {
  const messages = [{ role: 'user', content: 'hi' }];
  assert.throws(() => toAnthropicRequest({ messages, tools: [] }), /^Error: tools: tool calling is not converted/);
  assert.throws(() => toAnthropicRequest({ messages, n: 2 }), /^Error: n: /);
  assert.throws(() => toAnthropicRequest({ messages: [{ role: 'tool', content: 'x', tool_call_id: 'a' }] }), /messages: tool calling/);
});

test('answers and errors as OpenAI objects', () => {
  const r = toOpenAiResponse({ id: 'm', model: 'c', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }],
    stop_reason: 'max_tokens', usage: { input_tokens: 2, output_tokens: 3 } });
  assert.equal((r.choices as any)[0].message.content, 'ab');
  assert.equal((r.choices as any)[0].finish_reason, 'length');
  assert.deepEqual(r.usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  assert.deepEqual(toOpenAiResponse({ type: 'error', error: { type: 'overloaded_error', message: 'busy' } }),
    { error: { message: 'busy', type: 'overloaded_error', code: null } });
});

test('the event stream is converted event by event, whatever the chunking; passthrough is not converted', () => {
  const wire = [
    'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","model":"c","usage":{"input_tokens":4,"output_tokens":1}}}\n\n',
    'event: ping\ndata: {"type":"ping"}\n\n',
    'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n',
    'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}\n\n',
    'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}\n\n',
    'event: message_stop\ndata: {"type":"message_stop"}\n\n',
  ].join('');
  for (const size of [1, 13, wire.length]) {
    const convert = adapter.responseConverter!('openai-chat', 'text/event-stream')!;
    let out = '';
    for (let i = 0; i < wire.length; i += size) out += convert(Buffer.from(wire.slice(i, i + size)), false).toString();
    out += convert(Buffer.alloc(0), true).toString();
    const events = out.split('\n\n').filter((e) => e !== '').map((e) => e.replace(/^data: /, ''));
    assert.equal(events.at(-1), '[DONE]', `chunks of ${size}`);
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'Hi there');
    assert.equal(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1).usage, { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 });
  }
  assert.equal(adapter.responseConverter!('passthrough', 'application/json'), undefined);
  assert.equal(adapter.responseConverter!('openai-chat', 'text/plain'), undefined);
});
