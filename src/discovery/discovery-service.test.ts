import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import type { DiscoveredNode } from '../contracts/discovery.js';
import { DiscoveryService, type NodeSetChange } from './discovery-service.js';
import { DiscoveredNodeTable } from './node-table.js';
import type { Registry, RegistryContext, WantedService } from './registry.js';

const quiet = pino({ level: 'silent' });
const tick = () => new Promise((r) => setImmediate(r));

/** A registry the test drives: it records what it was asked for and publishes on demand. */
class FakeRegistry implements Registry {
  wanted: WantedService[] = [];
  closed = false;
  constructor(readonly ctx: RegistryContext) {}
  want(services: readonly WantedService[]): void {
    this.wanted = [...services];
  }
  close(): void {
    this.closed = true;
  }
}

function service(opts: { firstAnswerWaitMs?: number; log?: pino.Logger } = {}): { svc: DiscoveryService; registry: () => FakeRegistry; changes: NodeSetChange[][] } {
  let registry: FakeRegistry | undefined;
  const svc = new DiscoveryService(new Map([['dns', (ctx: RegistryContext) => (registry = new FakeRegistry(ctx))]]),
    { log: opts.log ?? quiet, firstAnswerWaitMs: opts.firstAnswerWaitMs ?? 5_000 });
  const changes: NodeSetChange[][] = [];
  svc.onChange((c) => changes.push(c));
  return { svc, registry: () => registry!, changes };
}

const nodes = (...hosts: string[]): DiscoveredNode[] => hosts.map((host) => ({ host, port: 80, weight: 1 }));

describe('DiscoveryService', () => {
  it('asks its registry for the services named, once each, leaving out types not enabled', () => {
    const { svc, registry } = service();
    void svc.want([
      { type: 'dns', name: 'a.test' }, { type: 'dns', name: 'a.test' }, { type: 'consul', name: 'x' }, { type: 'dns', name: 'b.test' },
    ]);
    assert.deepEqual(registry().wanted.map((w) => w.key), ['dns:a.test', 'dns:b.test']);
    assert.deepEqual(svc.enabledTypes(), ['dns']);
    svc.close();
    assert.equal(registry().closed, true);
  });

  it('sends each change once per tick, drops unchanged sets whatever their order, and null for a service no longer named', async () => {
    const { svc, registry, changes } = service();
    void svc.want([{ type: 'dns', name: 'a.test' }]);
    registry().ctx.publish('dns:a.test', nodes('1.1.1.1', '1.1.1.2'));
    registry().ctx.publish('dns:not-wanted', nodes('9.9.9.9'));
    await tick();
    assert.deepEqual(changes, [[['dns:a.test', nodes('1.1.1.1', '1.1.1.2')]]]);
    registry().ctx.publish('dns:a.test', nodes('1.1.1.2', '1.1.1.1'));
    await tick();
    assert.equal(changes.length, 1, 'the same set in another order is no change');
    assert.deepEqual(svc.current(), [['dns:a.test', nodes('1.1.1.1', '1.1.1.2')]]);
    void svc.want([]);
    assert.deepEqual(registry().wanted, []);
    await tick();
    assert.deepEqual(changes[1], [['dns:a.test', null]]);
    assert.deepEqual(svc.current(), []);
    svc.close();
  });

  it('keeps the last known nodes when fetches fail, and reports the failure in its status and metric', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => { lines.push(l); } });
    const { svc, registry, changes } = service({ log });
    void svc.want([{ type: 'dns', name: 'a.test' }]);
    registry().ctx.publish('dns:a.test', nodes('1.1.1.1'));
    registry().ctx.succeeded();
    for (let i = 0; i < 5; i++) registry().ctx.failed(new Error('ECONNREFUSED'), 'dns:a.test');
    await tick();
    assert.equal(changes.length, 1, 'a failure sends nothing');
    const status = svc.status().dns!;
    assert.equal(status.reachable, false);
    assert.equal(status.errors, 5);
    assert.equal(status.last_error, 'ECONNREFUSED');
    assert.deepEqual(status.services['a.test']!.nodes, nodes('1.1.1.1'));
    assert.equal(status.services['a.test']!.error, 'ECONNREFUSED');
    assert.equal(lines.filter((l) => l.includes('fetch failed')).length, 1, 'failures are logged at most once per interval');

    const metrics = new MetricsRegistry();
    svc.registerMetrics(metrics);
    assert.match(await metrics.metrics(), /gatehouse_discovery_errors_total\{type="dns"\} 5/);

    registry().ctx.publish('dns:a.test', nodes('1.1.1.1'));
    registry().ctx.succeeded();
    assert.equal(svc.status().dns!.reachable, true);
    assert.equal(svc.status().dns!.services['a.test']!.error, undefined);
    assert.equal(lines.filter((l) => l.includes('answers again')).length, 1);
    svc.close();
  });

  it('lets a change wait for the first answer about a service it newly names, and no longer than its bound', async () => {
    const { svc, registry } = service();
    assert.equal(svc.want([]), undefined, 'nothing new: nothing to wait for');
    let settled = false;
    void svc.want([{ type: 'dns', name: 'a.test' }, { type: 'dns', name: 'b.test' }])!.then(() => { settled = true; });
    registry().ctx.publish('dns:a.test', nodes('1.1.1.1'));
    await tick();
    assert.equal(settled, false, 'b.test has not been answered yet');
    registry().ctx.failed(new Error('timeout'), 'dns:b.test');
    await tick();
    assert.equal(settled, true, 'a failure is an answer too');
    assert.equal(svc.want([{ type: 'dns', name: 'a.test' }, { type: 'dns', name: 'b.test' }]), undefined);
    svc.close();

    const bounded = service({ firstAnswerWaitMs: 20 });
    const started = Date.now();
    await bounded.svc.want([{ type: 'dns', name: 'c.test' }]);
    assert.ok(Date.now() - started < 2_000);
    bounded.svc.close();
  });
});

describe('DiscoveredNodeTable', () => {
  it('gives a subscriber what is known at once and every change after; a forgotten service leaves subscribers their nodes', () => {
    const table = new DiscoveredNodeTable(['nacos'], quiet);
    assert.equal(table.enabled('nacos'), true);
    assert.equal(table.enabled('dns'), false);
    table.apply([['nacos:public/DEFAULT_GROUP/orders', nodes('1.1.1.1')]]);
    const seen: (readonly DiscoveredNode[] | undefined)[] = [];
    const stop = table.subscribe({ type: 'nacos', name: 'orders' }, (n) => seen.push(n));
    const other: (readonly DiscoveredNode[] | undefined)[] = [];
    table.subscribe({ type: 'nacos', name: 'orders', args: { namespace_id: 'prod' } }, (n) => other.push(n));
    table.apply([['nacos:public/DEFAULT_GROUP/orders', nodes('1.1.1.2')], ['nacos:public/DEFAULT_GROUP/orders', null]]);
    assert.deepEqual(seen, [nodes('1.1.1.1'), nodes('1.1.1.2')]);
    assert.deepEqual(other, [undefined], 'another namespace is another service');
    stop();
    table.apply([['nacos:public/DEFAULT_GROUP/orders', nodes('1.1.1.3')]]);
    assert.equal(seen.length, 2, 'no calls after unsubscribing');
  });
});
