import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gjsonGet, gjsonString, parseGjsonPath } from './gjson-path.js';

const body = { messages: [{ role: 'user', content: 'first' }, { role: 'user', content: 'last' }], 'a.b': { c: 1 } };

test('dotted keys, indexes, @reverse and escaped dots', () => {
  assert.equal(gjsonGet(body, parseGjsonPath('messages.@reverse.0.content', 'f')), 'last');
  assert.equal(gjsonGet(body, parseGjsonPath('messages.0.content', 'f')), 'first');
  assert.equal(gjsonGet(body, parseGjsonPath('messages.5.content', 'f')), undefined);
  assert.equal(gjsonGet(body, parseGjsonPath('a\\.b.c', 'f')), 1);
  assert.equal(body.messages[0]!.content, 'first', '@reverse leaves the body as it was');
});

test('GJSON\'s String(): strings as they are, other values as JSON, nothing as empty', () => {
  assert.equal(gjsonString('x'), 'x');
  assert.equal(gjsonString({ a: 1 }), '{"a":1}');
  assert.equal(gjsonString(undefined), '');
});

test('other GJSON syntax is refused naming the field', () => {
  assert.throws(() => parseGjsonPath('messages.#.content', 'keyFrom.requestBody'), /^Error: keyFrom\.requestBody: "messages\.#\.content" uses GJSON syntax .*"#"/);
  assert.throws(() => parseGjsonPath('a.@this', 'f'), /"@"/);
  assert.throws(() => parseGjsonPath('a..b', 'f'), /empty key/);
});

test('`#` (every element) only where the caller takes it, as content checks do', () => {
  assert.deepEqual(parseGjsonPath('choices.#.m', 'f', { each: true }).steps, [{ key: 'choices' }, { each: true }, { key: 'm' }]);
  assert.throws(() => parseGjsonPath('choices.#(m=="x")', 'f', { each: true }), /^Error: f: .* beyond dotted keys, array indexes, # and @reverse \("#"\)/);
});
