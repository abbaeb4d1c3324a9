import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ProxySession } from './session.js';
import type { CompiledStreamRoute } from './stream-router.js';
import { STREAM_VARIABLES } from '../../core/expr/index.js';

// STREAM_VARIABLES (core/expr) is what a stream logger's log_format may name: the session
// resolves every one of them, and nothing else.

test('a finished session resolves every stream variable the registry lists, and no other', () => {
  const route = { id: 'r1', plugins: [] } as unknown as CompiledStreamRoute;
  const s = new ProxySession({ protocol: 'tcp', remoteAddr: '10.0.0.1', remotePort: 5000, serverAddr: '127.0.0.1', serverPort: 9100, sni: 'a.test' },
    route, pino({ level: 'silent' }));
  s.upstreamAddr = '10.0.0.2:80';
  for (const name of STREAM_VARIABLES) assert.notEqual(s.var(name), undefined, name);
  for (const name of ['uri', 'host', 'request_time', 'http_host']) assert.equal(s.var(name), undefined, name);
});
