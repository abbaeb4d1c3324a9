import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, startWithUpstream, stopWithUpstream, type Gateway } from './gateway.js';
import type { TestUpstream } from '../fixtures/upstream.js';
import { get } from './http.js';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from './loopback-server.js';

// APISIX's `keepalive`, `keepalive_timeout` and `keepalive_pool` of a plugin that calls
// a service over HTTP (forward-auth, opa), checked by counting the connections the
// service accepts. Each setting gets its own service, so the counts are its own; they keep
// idle connections for 30 s, so whatever closes one earlier is the gateway.

/** The plugin's config calling `url` with these connection fields. */
export type ConfFor = (url: string, policy: Record<string, unknown>) => Record<string, unknown>;

const SERVICE_IDLE_MS = 30_000;
const POOL = 1;
const BURST = 3;

export function describeKeepalive(plugin: string, confFor: ConfFor, allow: (req: ReceivedRequest, res: ServerResponse) => void): void {
  describe(`${plugin}: keepalive, keepalive_timeout, keepalive_pool`, () => {
    let gw: Gateway;
    let up: TestUpstream;
    const services: Record<'reuse' | 'close' | 'idle' | 'pool', LoopbackServer> = {} as never;
    const held: (() => void)[] = [];

    before(async () => {
      for (const name of ['reuse', 'close', 'idle'] as const) {
        services[name] = await startLoopbackServer(allow, { keepAliveTimeout: SERVICE_IDLE_MS });
      }
      // answers once BURST calls are in (or after 2 s): they must all be in flight together
      services.pool = await startLoopbackServer((req, res) => {
        held.push(() => allow(req, res));
        if (held.length >= BURST) held.splice(0).forEach((answer) => answer());
        else setTimeout(() => held.splice(0).forEach((answer) => answer()), 2000).unref();
      }, { keepAliveTimeout: SERVICE_IDLE_MS });
      const policies = {
        reuse: { keepalive: true },
        close: { keepalive: false },
        idle: { keepalive: true, keepalive_timeout: 1000 },
        pool: { keepalive: true, keepalive_pool: POOL, keepalive_timeout: 20_000 },
      };
      ({ gw, up } = await startWithUpstream((upstream) => ({
        routes: Object.entries(policies).map(([name, policy]) => ({
          id: `ka-${name}`, uri: `/ka-${name}`, upstream,
          plugins: { [plugin]: confFor(services[name as keyof typeof policies].url, policy) },
        })),
      })));
    });

    after(async () => {
      await stopWithUpstream(gw, up);
      for (const s of Object.values(services)) {
        s.server.closeAllConnections();
        await new Promise((resolve) => s.server.close(resolve));
      }
    });

    const send = async (name: string): Promise<void> => {
      const r = await get(`${gw.url}/ka-${name}`);
      assert.equal(r.status, 200, r.body);
    };

    test('keepalive true: consecutive calls share one connection', async () => {
      for (let i = 0; i < 5; i++) await send('reuse');
      assert.equal(services.reuse.sockets.opened, 1);
      assert.equal(services.reuse.sockets.open, 1, 'kept open between calls');
    });

    test('keepalive false: a connection per call, closed after it', async () => {
      for (let i = 0; i < 3; i++) await send('close');
      assert.equal(services.close.sockets.opened, 3);
      await eventually(() => services.close.sockets.open === 0, 40, 50);
    });

    test('keepalive_timeout: an idle connection is closed after it, though the service would keep it 30 s', async () => {
      await send('idle');
      const idleFrom = Date.now();
      await sleep(300);
      assert.equal(services.idle.sockets.open, 1, 'still open well before the timeout');
      await send('idle');
      assert.equal(services.idle.sockets.opened, 1, 'reused within the timeout');
      await eventually(() => services.idle.sockets.open === 0, 100, 50); // bounded: 5 s
      assert.ok(Date.now() - idleFrom >= 900, `closed after ${Date.now() - idleFrom} ms`);
    });

    test('keepalive_pool bounds the idle connections kept, not the calls in flight', async () => {
      await Promise.all(Array.from({ length: BURST }, () => send('pool')));
      assert.equal(services.pool.sockets.opened, BURST, 'every call had its own connection at once (none queued)');
      await eventually(() => services.pool.sockets.open === POOL, 40, 50);
      await sleep(200);
      assert.equal(services.pool.sockets.open, POOL, `${POOL} connection kept for the next calls`);
      const opened = services.pool.sockets.opened;
      await Promise.all(Array.from({ length: BURST }, () => send('pool')));
      assert.equal(services.pool.sockets.opened, opened + BURST - POOL, 'the kept connection serves one of the next burst');
      await eventually(() => services.pool.sockets.open === POOL, 40, 50);
    });
  });
}
