import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AI_CHAT_REQUEST, AI_MODEL, AI_PATH, AI_STREAM_BODY, chatCompletion, hasContentEvent } from './ai-chat.js';
import { stopAll } from './procs.js';
import { REPO_ROOT, baseUrl, startFakeLlm, startGateway } from './targets.js';

async function post(url: string, body: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: AI_CHAT_REQUEST.headers, body, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

test('the first content event is the second one: the role chunk carries no text', () => {
  const [role, first] = AI_STREAM_BODY.split('\n\n');
  assert.equal(hasContentEvent(`${role}\n\n`), false);
  assert.equal(hasContentEvent(`${role}\n\n${first}`), false, 'an event without its blank line is not complete');
  assert.equal(hasContentEvent(`${role}\n\n${first}\n\n`), true);
});

test('the bench fake provider and the ai scenario\'s gateway answer the streamed chat with the same exact body', { timeout: 60_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-bench-ai-'));
  try {
    const llm = await startFakeLlm(20_000);
    const direct = await post(baseUrl(llm) + AI_PATH, AI_CHAT_REQUEST.body);
    assert.equal(direct.status, 200);
    assert.equal(direct.type, 'text/event-stream');
    assert.equal(direct.text, AI_STREAM_BODY);
    assert.match(AI_STREAM_BODY, /"usage":\{"prompt_tokens":\d+,"completion_tokens":16,"total_tokens":\d+\}.*\n\ndata: \[DONE\]\n\n$/s);

    const plain = await post(baseUrl(llm) + AI_PATH, JSON.stringify({ model: AI_MODEL, messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(plain.status, 200);
    assert.equal(plain.text, chatCompletion(AI_MODEL));

    const gateway = await startGateway('gateway-ai', REPO_ROOT, llm.port, tmp, 20_000);
    const through = await post(baseUrl(gateway) + AI_PATH, AI_CHAT_REQUEST.body);
    assert.equal(through.status, 200);
    assert.equal(through.type, 'text/event-stream');
    assert.equal(through.text, AI_STREAM_BODY);
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
});
