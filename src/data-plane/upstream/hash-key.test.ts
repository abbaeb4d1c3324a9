import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Logger } from '../../core/logger.js';
import type { Upstream } from '../../contracts/resources.js';
import type { HttpRequest } from '../http1/request.js';
import { RequestVars } from '../request-vars.js';
import { hashKeyResolver } from './hash-key.js';

function vars(headers: Record<string, string> = {}, query = '', remoteAddr = '10.0.0.9'): RequestVars {
  const req = { method: 'GET', url: `/p${query ? `?${query}` : ''}`, headers, httpVersion: '1.1', socket: {} } as unknown as HttpRequest;
  return new RequestVars({ req, path: '/p', query, host: 'h', remoteAddr, serverPort: 80, scheme: 'http' });
}

function capture(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: pino({ level: 'warn' }, { write: (l: string) => { lines.push(JSON.parse(l)); } }), lines };
}

const chash = (hash_on: Upstream['hash_on'], key: string): Upstream => ({ type: 'chash', hash_on, key, nodes: {} });

test('the configured key is used when the request has it', () => {
  assert.equal(hashKeyResolver(chash('header', 'X-User'))(vars({ 'x-user': 'ann' })), 'ann');
  assert.equal(hashKeyResolver(chash('cookie', 'sid'))(vars({ cookie: 'a=1; sid=s9' })), 's9');
  assert.equal(hashKeyResolver(chash('vars', 'arg_id'))(vars({}, 'id=7')), '7');
  assert.equal(hashKeyResolver(chash('vars_combinations', '$arg_a-$arg_b'))(vars({}, 'b=2')), '-2');
});

test('a missing key falls back to remote_addr, as APISIX does', () => {
  const { log } = capture();
  for (const up of [chash('header', 'x-user'), chash('cookie', 'sid'), chash('vars', 'arg_id'), chash('consumer', ''),
    chash('vars_combinations', '$arg_a$arg_b')]) {
    assert.equal(hashKeyResolver(up, { logger: log })(vars({}, '', '192.0.2.4')), '192.0.2.4', up.hash_on);
  }
});

test('the fallback warns once per interval, counting the requests in between', () => {
  const { log, lines } = capture();
  let now = 0;
  const resolve = hashKeyResolver(chash('header', 'x-user'), { logger: log, name: 'route r', warnIntervalMs: 1000, now: () => now });
  for (let i = 0; i < 500; i++) { resolve(vars()); now += 1; }
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.msg, 'chash key missing from the request; hashing on remote_addr');
  assert.equal(lines[0]!.upstream, 'route r');
  now = 1000;
  resolve(vars());
  assert.equal(lines.length, 2);
  assert.equal(lines[1]!.requests, 500);
  resolve(vars({ 'x-user': 'ann' }));
  assert.equal(lines.length, 2);
});
