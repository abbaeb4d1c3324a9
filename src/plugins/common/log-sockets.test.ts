import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpConnectionPool, packJsonDatagrams } from './log-sockets.js';
import { startTcpLogServer, until } from '../../../test/helpers/log-servers.js';

test('a pool is empty only when it holds no connection, idle or in use', async () => {
  const server = await startTcpLogServer();
  const pool = new TcpConnectionPool({ host: '127.0.0.1', port: server.port, tls: false, timeoutMs: 1000 }, 1);
  try {
    assert.equal(pool.empty, true);
    const sending = pool.send('a\n');
    assert.equal(pool.empty, false, 'in use');
    await sending;
    assert.equal(pool.empty, false, 'kept idle');
    await until(() => server.received() === 'a\n', 'the write');
    pool.close();
    assert.equal(pool.empty, true, 'its idle connection closed');
  } finally {
    await server.close();
  }
});

test('JSON entries are packed into datagrams of at most max bytes, multi-byte text measured in bytes', () => {
  const { datagrams, tooLarge } = packJsonDatagrams([{ s: 'é' }, { s: 'é' }, { s: 'x'.repeat(40) }], false, 24);
  // {"s":"é"} is 10 bytes: two fit in [..,..] (22 bytes), the long one fits none
  assert.deepEqual(datagrams.map((d) => d.toString('utf8')), ['[{"s":"é"},{"s":"é"}]']);
  assert.equal(tooLarge, 1);
  assert.deepEqual(packJsonDatagrams([{ s: 'é' }, { s: 'é' }], false, 21).datagrams.map((d) => d.length), [12, 12]);
});
