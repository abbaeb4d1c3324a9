import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileReplaceRoles, DenyWords, MaskSession } from './masking.js';
import { SseParser } from '../protocol/sse.js';
import { SseAnswerMasker } from './stream-mask.js';

const DENIED = 'data: {"denied":true}\n\ndata: [DONE]\n\n';

function session(): MaskSession {
  const s = new MaskSession(compileReplaceRoles([{ regex: '(\\d+)\\.\\d+\\.\\d+\\.\\d+', type: 'replace', restore: true, value: 'IP_MASK_$1' }], 'r'));
  s.mask('at 10.1.2.3');
  return s;
}

/** A chat stream whose content pieces are `pieces`, as the provider chunks it. */
function stream(pieces: string[]): string {
  const chunks = pieces.map((p, i) => `data: ${JSON.stringify({ id: 'c1', choices: [{ index: 0, delta: { content: p }, finish_reason: i === pieces.length - 1 ? 'stop' : null }] })}\n\n`);
  return chunks.join('') + `data: ${JSON.stringify({ id: 'c1', choices: [], usage: { total_tokens: 3 } })}\n\ndata: [DONE]\n\n`;
}

function contentOf(wire: string): { text: string; events: string[] } {
  const p = new SseParser();
  const events = [...p.push(wire), ...p.end()].map((e) => e.data);
  let text = '';
  for (const d of events) {
    if (d === '[DONE]') continue;
    const j = JSON.parse(d) as { choices?: { delta?: { content?: string } }[] };
    for (const c of j.choices ?? []) text += c.delta?.content ?? '';
  }
  return { text, events };
}

function run(masker: SseAnswerMasker, wire: string, cuts: number[]): string {
  let out = '';
  let last = 0;
  for (const c of [...cuts, wire.length]) {
    out += masker.push(Buffer.from(wire.slice(last, c)));
    last = c;
  }
  return out + masker.end();
}

test('a mask split across content chunks is restored, whatever the chunking', () => {
  const pieces = ['host ', 'IP_MA', 'SK_', '10 is', ' up'];
  const wire = stream(pieces);
  for (let cut = 1; cut < wire.length; cut += 7) {
    const m = new SseAnswerMasker(session(), new DenyWords([]), DENIED);
    const { text, events } = contentOf(run(m, wire, [cut]));
    assert.equal(text, 'host 10.1.2.3 is up', `cut at ${cut}`);
    assert.equal(events.at(-1), '[DONE]');
    assert.ok(events.some((e) => e.includes('"total_tokens":3')), 'the usage chunk passes');
  }
  assert.equal(new SseAnswerMasker(session(), new DenyWords([]), DENIED).holdBack, 'IP_MASK_10'.length - 1);
});

test('a stream ending without finish_reason or [DONE] releases what it held', () => {
  const wire = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'at IP_MASK_' } }] })}\n\ndata: ${JSON.stringify({ choices: [{ index: 0, delta: { content: '10' } }] })}\n\n`;
  const m = new SseAnswerMasker(session(), new DenyWords([]), DENIED);
  assert.equal(contentOf(run(m, wire, [])).text, 'at 10.1.2.3');
});

test('a deny word split across chunks replaces the rest of the stream with the deny events', () => {
  const m = new SseAnswerMasker(new MaskSession([]), new DenyWords(['forbidden']), DENIED);
  const wire = stream(['this is forb', 'idden stuff', ' and more']);
  const out = run(m, wire, []);
  assert.equal(m.denied, 'forbidden');
  const { text, events } = contentOf(out);
  assert.ok(!text.includes('forb'), text);
  assert.ok(out.endsWith(DENIED));
  assert.equal(events.filter((e) => e === '[DONE]').length, 1);
  assert.equal(m.push(Buffer.from(wire)), '', 'later chunks are emptied');
});

test('non-JSON events and a stream with nothing to restore pass', () => {
  const m = new SseAnswerMasker(new MaskSession([]), new DenyWords(['x']), DENIED);
  assert.equal(m.holdBack, 0);
  assert.equal(m.push(Buffer.from(': ping\n\nevent: note\ndata: plain text\n\n')), 'event: note\ndata: plain text\n\n');
});

test('choices are held back apart: two interleaved choices each get their masks back', () => {
  const chunk = (index: number, content: string, finish: string | null = null): string =>
    `data: ${JSON.stringify({ choices: [{ index, delta: { content }, finish_reason: finish }] })}\n\n`;
  const wire = chunk(0, 'a IP_MA') + chunk(1, 'b IP_') + chunk(0, 'SK_10') + chunk(1, 'MASK_10 z', 'stop') + chunk(0, ' y', 'stop') + 'data: [DONE]\n\n';
  const m = new SseAnswerMasker(session(), new DenyWords([]), DENIED);
  const p = new SseParser();
  const texts = ['', ''];
  for (const e of p.push(run(m, wire, [11]))) {
    if (e.data === '[DONE]') continue;
    for (const c of (JSON.parse(e.data) as { choices: { index: number; delta: { content: string } }[] }).choices) texts[c.index] += c.delta.content;
  }
  assert.deepEqual(texts, ['a 10.1.2.3 y', 'b 10.1.2.3 z']);
});
