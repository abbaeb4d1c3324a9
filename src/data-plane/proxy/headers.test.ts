import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpRequest } from '../http1/request.js';
import { clientResponseHeaders, upstreamRequestHeaders, type ForwardFacts } from './headers.js';

const facts: ForwardFacts = { host: 'up.internal', remoteAddr: '10.0.0.9', proto: 'http', clientHost: 'api.test', serverPort: 9080 };

function request(raw: string[]): HttpRequest {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) headers[raw[i]!.toLowerCase()] = raw[i + 1]!;
  return { rawHeaders: raw, headers } as unknown as HttpRequest;
}

/** Flat pairs as [name, value] tuples, easier to compare. */
function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

test('upstream request: hop-by-hop and Connection-listed headers dropped, Host set, X-Forwarded-* appended', () => {
  const req = request(['Host', 'api.test', 'Connection', 'keep-alive, X-Trace-Hop', 'X-Trace-Hop', '1', 'TE', 'trailers',
    'Accept', '*/*', 'X-Forwarded-For', '1.2.3.4', 'Keep-Alive', 'timeout=5']);
  assert.deepEqual(pairs(upstreamRequestHeaders(req, facts)), [
    ['host', 'up.internal'], ['Accept', '*/*'],
    ['x-forwarded-for', '1.2.3.4, 10.0.0.9'], ['x-forwarded-proto', 'http'], ['x-forwarded-host', 'api.test'], ['x-forwarded-port', '9080'],
  ]);
});

test('upstream request: plugin edits replace raw headers whatever their case, remove them, and add new ones', () => {
  const req = request(['Host', 'api.test', 'X-API-Version', '1', 'user-agent', 'curl', 'X-Remove-Me', 'x', 'Accept', '*/*']);
  const edits = new Map<string, string | undefined>([['x-api-version', '2'], ['x-remove-me', undefined], ['x-new', 'n']]);
  assert.deepEqual(pairs(upstreamRequestHeaders(req, facts, edits)), [
    ['host', 'up.internal'], ['user-agent', 'curl'], ['Accept', '*/*'], ['x-api-version', '2'], ['x-new', 'n'],
    ['x-forwarded-for', '10.0.0.9'], ['x-forwarded-proto', 'http'], ['x-forwarded-host', 'api.test'], ['x-forwarded-port', '9080'],
  ]);
});

test('upstream request: names of 32 characters or more (the length mask wraps) are still matched exactly', () => {
  const long = 'X-A-Rather-Long-Header-Name-Of-40-Chars!';
  const same = 'x-a-rather-long-header-name-of-40-chars!';
  const other = 'x-b' + 'y'.repeat(long.length - 3);
  const req = request(['Host', 'api.test', long, 'old', other, 'kept', 'TE', 'trailers']);
  const out = pairs(upstreamRequestHeaders(req, facts, new Map([[same, 'new']])));
  assert.deepEqual(out.slice(0, 3), [['host', 'up.internal'], [other, 'kept'], [same, 'new']]);
});

test('client response: hop-by-hop, Connection-listed and the upstream Server dropped; ours added', () => {
  const raw = ['Content-Type', 'text/plain', 'Connection', 'close, X-Internal', 'X-Internal', 'secret', 'Server', 'nginx',
    'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'];
  assert.deepEqual(pairs(clientResponseHeaders(raw, 'Gatehouse/1')), [
    ['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['server', 'Gatehouse/1'],
  ]);
});
