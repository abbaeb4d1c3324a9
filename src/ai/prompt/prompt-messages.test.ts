import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addPromptMessages, detectPromptProtocol, type PromptMessage } from './prompt-messages.js';

const pre: PromptMessage[] = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Context.' }];
const post: PromptMessage[] = [{ role: 'user', content: 'End with a summary.' }];
const decorate = (body: Record<string, unknown>, uri = '/v1/chat/completions'): Record<string, unknown> =>
  addPromptMessages(body, detectPromptProtocol(body, uri), pre, post);

test('the API shape from body and path, first match wins', () => {
  for (const [body, uri, want] of [
    [{ messages: [] }, '/model/x/converse', 'bedrock-converse'],
    [{ model: 'c' }, '/v1/messages', 'anthropic-messages'],
    [{ input: 'hi' }, '/v1/responses', 'openai-responses'],
    [{ model: 'x' }, '/v1/responses', 'passthrough'],
    [{ messages: [] }, '/anything', 'openai-chat'],
    [{ input: ['a'] }, '/v1/embeddings', 'openai-embeddings'],
    [{ prompt: 'x' }, '/v1/completions', 'passthrough'],
    [{}, '/x', 'openai-chat'],
  ] as const) assert.equal(detectPromptProtocol(body, uri), want, `${JSON.stringify(body)} ${uri}`);
});

test('chat and Anthropic: prepend before, append after; messages created when missing', () => {
  const body = { model: 'm', messages: [{ role: 'user', content: 'Q' }] };
  assert.deepEqual(decorate(body).messages, [...pre, { role: 'user', content: 'Q' }, ...post]);
  assert.deepEqual(body.messages, [{ role: 'user', content: 'Q' }], 'the body read is not changed');
  assert.deepEqual(decorate({ model: 'c' }, '/v1/messages'), { model: 'c', messages: [...pre, ...post] });
  assert.deepEqual(decorate({}), { messages: [...pre, ...post] });
  assert.deepEqual(decorate({ model: 'x' }), { model: 'x' }, 'a body of no known shape passes unchanged');
  assert.throws(() => decorate({ messages: { a: 1 } }), /messages must be an array/);
  assert.throws(() => decorate({ messages: 'x' }, '/v1/messages'), /messages must be an array/);
});

test('Responses API: prepend joined before instructions, append after a string input or as a new input item', () => {
  assert.deepEqual(decorate({ input: 'Q', instructions: 'Be kind.' }, '/v1/responses'),
    { input: 'Q\nEnd with a summary.', instructions: 'Be brief.\nContext.\nBe kind.' });
  assert.deepEqual(decorate({ input: [{ role: 'user', content: 'Q' }] }, '/v1/responses'), {
    input: [{ role: 'user', content: 'Q' }, { type: 'message', role: 'user', content: 'End with a summary.' }],
    instructions: 'Be brief.\nContext.',
  });
  assert.deepEqual(decorate({ input: null, instructions: 3 }, '/v1/responses'), { input: 'End with a summary.', instructions: 'Be brief.\nContext.' });
  assert.throws(() => decorate({ input: { a: 1 } }, '/v1/responses'), /input must be a string or an array/);
});

test('Bedrock Converse: system prompts as system blocks, the others as content blocks', () => {
  const out = decorate({ system: [{ text: 'S' }], messages: [{ role: 'user', content: [{ text: 'Q' }] }] }, '/model/m/converse');
  assert.deepEqual(out, {
    system: [{ text: 'Be brief.' }, { text: 'S' }],
    messages: [{ role: 'user', content: [{ text: 'Context.' }] }, { role: 'user', content: [{ text: 'Q' }] },
      { role: 'user', content: [{ text: 'End with a summary.' }] }],
  });
});

test('each body gets its own copies of the configured messages', () => {
  const a = decorate({ messages: [] }).messages as PromptMessage[];
  a[0]!.content = 'changed by a later plugin';
  assert.equal((decorate({ messages: [] }).messages as PromptMessage[])[0]!.content, 'Be brief.');
  assert.equal(pre[0]!.content, 'Be brief.');
});
