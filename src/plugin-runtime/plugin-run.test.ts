import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseState, plainQueryArg } from './plugin-run.js';

test('ResponseState: a proxied header list taken over as is; names match ignoring case', () => {
  const flat = ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'X-Up', 'u', 'set-cookie', 'b=2', 'server', 'gh'];
  const r = ResponseState.fromFlat(201, flat);
  assert.equal(r.status, 201);
  assert.equal(r.flatten(), flat); // no copy
  assert.equal(r.header('content-type'), 'text/plain');
  assert.equal(r.header('CONTENT-TYPE'), 'text/plain');
  assert.equal(r.header('set-cookie'), 'a=1, b=2');
  assert.equal(r.header('x-missing'), undefined);
  assert.deepEqual(r.allHeaders(), { 'content-type': 'text/plain', 'set-cookie': 'a=1, b=2', 'x-up': 'u', server: 'gh' });
});

test('ResponseState: set replaces every value in the first one\'s place, undefined removes, add goes after the last', () => {
  const r = ResponseState.fromFlat(200, ['A', '1', 'Set-Cookie', 'x', 'B', '2', 'set-cookie', 'y']);
  r.setHeader('set-COOKIE', 'z');
  assert.deepEqual(r.flatten(), ['A', '1', 'set-COOKIE', 'z', 'B', '2']);
  r.addHeader('Set-Cookie', 'w');
  r.addHeader('a', '3');
  assert.deepEqual(r.flatten(), ['A', '1', 'A', '3', 'set-COOKIE', 'z', 'set-COOKIE', 'w', 'B', '2']);
  r.setHeader('X-RateLimit-Limit', '10');
  r.setHeader('b', undefined);
  r.setHeader('nothing', undefined);
  assert.deepEqual(r.flatten(), ['A', '1', 'A', '3', 'set-COOKIE', 'z', 'set-COOKIE', 'w', 'X-RateLimit-Limit', '10']);
  r.setHeader('a', undefined);
  assert.equal(r.header('a'), undefined);
  assert.equal(r.header('x-ratelimit-limit'), '10');
  // same length, different name: no false match
  r.setHeader('Y-RateLimit-Limit', '1');
  assert.equal(r.header('x-ratelimit-limit'), '10');
  const empty = new ResponseState();
  empty.addHeader('Vary', 'Origin');
  assert.deepEqual(empty.flatten(), ['Vary', 'Origin']);
});

test('plainQueryArg: the first value of a plain query, as URLSearchParams reads it; escapes go to the full parser', () => {
  const cases: [string, string][] = [
    ['apikey=k1', 'apikey'], ['a=1&apikey=k2&apikey=k3', 'apikey'], ['apikeys=no&apikey=yes', 'apikey'],
    ['xapikey=no', 'apikey'], ['apikey', 'apikey'], ['apikey=', 'apikey'], ['a=1&&apikey=v=w', 'apikey'],
    ['a=1', 'apikey'], ['apikey&apikey=2', 'apikey'], ['=v&b=2', 'b'],
  ];
  for (const [query, name] of cases) {
    assert.equal(plainQueryArg(query, name), new URLSearchParams(query).get(name), `${query} → ${name}`);
  }
  assert.equal(plainQueryArg('apikey=a%20b', 'apikey'), undefined);
  assert.equal(plainQueryArg('apikey=a+b', 'apikey'), undefined);
  assert.equal(plainQueryArg('x=1', ''), undefined);
});

test('ResponseState: a header or status the HTTP layer could not write throws where it is set, and changes nothing', () => {
  const r = ResponseState.fromFlat(200, ['Content-Type', 'text/plain']);
  r.setHeader('X-RateLimit-Limit', '10');
  r.addHeader('vary', 'Origin');
  r.setHeader('x-count', 3 as unknown as string); // a number is taken as its text
  assert.throws(() => r.setHeader('x-bad', 'a\r\nInjected: yes'), /invalid header "x-bad": its value contains a NUL, CR or LF/);
  assert.throws(() => r.addHeader('x', 'a\0b'), /invalid header "x"/);
  assert.throws(() => r.setHeader('bad name', 'v'), /invalid header name "bad name"/);
  assert.throws(() => r.setHeader('x-obj', {} as unknown as string), /must be a string, got object/);
  assert.throws(() => { r.status = 1000; }, /invalid response status 1000/);
  assert.throws(() => { r.status = '200' as unknown as number; }, /invalid response status "200"/);
  assert.equal(r.status, 200);
  assert.deepEqual(r.flatten(), ['Content-Type', 'text/plain', 'X-RateLimit-Limit', '10', 'vary', 'Origin', 'x-count', '3']);
});
