// A graceful quit with a stream connection open: it keeps working during
// node.drain_timeout, new connections are refused, then it is closed and the gateway exits.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { streamAddresses, tcpEcho, tcpHold, type EchoServer } from './stream-fixtures.js';

describe('stream routes: graceful quit', () => {
  let gw: Gateway | undefined;
  let echo: EchoServer | undefined;
  after(async () => {
    await gw?.stop();
    await echo?.close();
  });

  it('lets an open connection run until drain_timeout, refuses new ones, then exits', async () => {
    echo = await tcpEcho('A:');
    gw = await startGateway({
      workers: 1, node: { drain_timeout: 2 },
      config: { stream_routes: [{ id: 'd', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } }] },
      extra: { stream_proxy: { tcp: ['127.0.0.1:0'] } },
    });
    const port = streamAddresses(gw).tcp;
    const held = await tcpHold(port);
    assert.equal(held.got, 'A:');
    const closed = new Promise<number>((resolve) => held.socket.once('close', () => resolve(Date.now())));
    const t0 = Date.now();
    gw.signal('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const echoed = await new Promise<string>((resolve) => {
      held.socket.once('data', (c: Buffer) => resolve(c.toString()));
      held.socket.write('during');
      setTimeout(() => resolve(''), 1000);
    });
    assert.equal(echoed, 'during');
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('error', () => resolve(true));
      s.once('data', () => resolve(false));
      s.once('close', () => resolve(true));
      setTimeout(() => { s.destroy(); resolve(false); }, 1500);
    });
    assert.equal(refused, true);
    const closedAt = await closed;
    assert.ok(closedAt - t0 >= 1500 && closedAt - t0 < 6000, `closed after ${closedAt - t0} ms`);
    const code = await Promise.race([gw.exited, new Promise((r) => setTimeout(() => r('still running'), 8000))]);
    assert.notEqual(code, 'still running');
  });
});
