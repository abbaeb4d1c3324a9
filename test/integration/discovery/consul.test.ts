import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ConsulDiscoveryConfig } from '../../../src/contracts/node-config.js';
import type { DiscoveryService } from '../../../src/discovery/discovery-service.js';
import { consulRegistry } from '../../../src/discovery/consul.js';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { assertFollowsChange, discoveryWith, nodesIn, until } from '../../helpers/discovery.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { FakeConsul, startFakeConsul } from '../../helpers/fake-consul.js';

// consul discovery against a local server that speaks Consul's health API and its
// blocking queries (test/helpers/fake-consul.ts; no real Consul has been tried): what the
// gateway asks for (passing instances, the token as a header, index and wait), how entries
// become nodes, changes seen at once through blocking queries, polling without keepalive,
// skip_services, default_service, sort_type, several servers, and a server that goes away.

const TOKEN = 'consul-acl-s3cret';

function config(servers: string[], extra: Partial<ConsulDiscoveryConfig> = {}): ConsulDiscoveryConfig {
  return {
    servers, token: '', fetch_interval: 30, keepalive: true, weight: 1, sort_type: 'origin',
    timeout: { connect: 500, read: 1000, wait: 2 }, ...extra,
  };
}

const discovery = (conf: ConsulDiscoveryConfig): DiscoveryService => discoveryWith('consul', consulRegistry(conf));

const nodesOf = (svc: DiscoveryService, label: string) => nodesIn(svc, 'consul', label);

describe('consul discovery (registry)', () => {
  let consul: FakeConsul;
  before(async () => { consul = await startFakeConsul(); });
  after(async () => { await consul.stop(); });

  it('asks for passing instances with the token as a header and turns entries into nodes', async () => {
    consul.token = TOKEN;
    consul.set('orders', [
      { address: '10.0.0.1', port: 8080, meta: { zone: 'a' } },
      { address: '', nodeAddress: '10.0.0.9', port: 0 },
      { address: '10.0.0.3', port: 8080, passing: false },
    ]);
    const svc = discovery(config([consul.url], { token: TOKEN, weight: 5 }));
    try {
      await svc.want([{ type: 'consul', name: 'orders' }]);
      assert.deepEqual(nodesOf(svc, 'orders'), [
        { host: '10.0.0.1', port: 8080, weight: 5, metadata: { zone: 'a' } },
        { host: '10.0.0.9', port: 80, weight: 5 },
      ]);
      const first = consul.requests.find((r) => r.path === '/v1/health/service/orders')!;
      assert.equal(first.token, TOKEN);
      assert.equal(first.query.get('passing'), 'true');
      assert.equal(first.query.get('index'), '0');
      assert.equal(first.query.get('wait'), '2s');
      assert.equal(first.query.get('token'), null, 'the token never goes in the URL');
    } finally {
      svc.close();
      consul.token = undefined;
    }
  });

  it('sees a change at once through its blocking query, sending the index of the last answer', async () => {
    consul.set('pay', [{ address: '10.0.1.1', port: 80 }]);
    const svc = discovery(config([consul.url], { timeout: { connect: 500, read: 1000, wait: 30 } }));
    try {
      await svc.want([{ type: 'consul', name: 'pay' }]);
      await until(() => consul.requests.filter((r) => r.path.endsWith('/pay')).length >= 1, 'the first answer');
      await new Promise((r) => setTimeout(r, 100)); // the blocking query is now held
      const changedAt = Date.now();
      consul.set('pay', [{ address: '10.0.1.2', port: 80 }]);
      await until(() => nodesOf(svc, 'pay')?.[0]?.host === '10.0.1.2', 'the change is seen');
      assert.ok(Date.now() - changedAt < 1_000, 'well before the 30 s wait or the 30 s fetch_interval');
      const asked = consul.requests.filter((r) => r.path.endsWith('/pay'));
      assert.equal(asked[0]!.query.get('index'), '0');
      assert.equal(asked[1]!.query.get('index'), String(asked[0]!.answeredIndex), 'the second ask carries the index of the first answer');
      assert.equal(asked[1]!.query.get('wait'), '30s');
    } finally {
      svc.close();
    }
  });

  it('polls every fetch_interval without index or wait when keepalive is false', async () => {
    consul.set('poll', [{ address: '10.0.2.1', port: 80 }]);
    const svc = discovery(config([consul.url], { keepalive: false, fetch_interval: 1 }));
    try {
      await svc.want([{ type: 'consul', name: 'poll' }]);
      consul.set('poll', [{ address: '10.0.2.2', port: 80 }]);
      await until(() => nodesOf(svc, 'poll')?.[0]?.host === '10.0.2.2', 'the next poll sees the change', 4_000);
      const asked = consul.requests.filter((r) => r.path.endsWith('/poll'));
      assert.ok(asked.every((r) => !r.query.has('index') && !r.query.has('wait')));
      assert.ok(asked[1]!.answeredAt - asked[0]!.answeredAt >= 900, 'one poll per fetch_interval');
    } finally {
      svc.close();
    }
  });

  it('answers default_service for a skipped service and one without passing instances, and sorts by sort_type', async () => {
    consul.set('down', [{ address: '10.0.3.1', port: 80, passing: false }]);
    consul.set('many', [{ address: '10.0.4.2', port: 81 }, { address: '10.0.4.1', port: 82 }, { address: '10.0.4.1', port: 80 }]);
    const svc = discovery(config([consul.url], {
      skip_services: ['legacy'], default_service: { host: '10.9.9.9', port: 8080 }, sort_type: 'combine_sort', weight: 2,
    }));
    try {
      await svc.want([{ type: 'consul', name: 'down' }, { type: 'consul', name: 'legacy' }, { type: 'consul', name: 'many' }]);
      const fallback = [{ host: '10.9.9.9', port: 8080, weight: 2 }];
      assert.deepEqual(nodesOf(svc, 'down'), fallback);
      assert.deepEqual(nodesOf(svc, 'legacy'), fallback);
      assert.equal(consul.requests.some((r) => r.path.endsWith('/legacy')), false, 'a skipped service is never asked for');
      assert.deepEqual(nodesOf(svc, 'many')?.map((n) => `${n.host}:${n.port}`), ['10.0.4.1:80', '10.0.4.1:82', '10.0.4.2:81']);
    } finally {
      svc.close();
    }
  });

  it('merges what several servers report, keeps the last nodes of one that goes away, and recovers', async () => {
    const other = await startFakeConsul();
    consul.set('multi', [{ address: '10.0.5.1', port: 80 }]);
    other.set('multi', [{ address: '10.0.5.2', port: 80 }]);
    const svc = discovery(config([consul.url, other.url]));
    try {
      await svc.want([{ type: 'consul', name: 'multi' }]);
      await until(() => nodesOf(svc, 'multi')?.length === 2, 'both servers answered');
      await other.stop();
      await until(() => svc.status().consul!.errors > 0, 'the failure is counted');
      assert.equal(svc.status().consul!.reachable, false);
      assert.match(svc.status().consul!.last_error!, /127\.0\.0\.1/);
      assert.deepEqual(nodesOf(svc, 'multi')?.map((n) => n.host).sort(), ['10.0.5.1', '10.0.5.2'], 'the last nodes keep serving');
      other.reset();
      other.set('multi', [{ address: '10.0.5.3', port: 80 }]);
      await other.start();
      await until(() => nodesOf(svc, 'multi')?.some((n) => n.host === '10.0.5.3') === true, 'recovered by itself', 10_000);
      assert.equal(svc.status().consul!.reachable, true);
      const asked = other.requests.filter((r) => r.path.endsWith('/multi'));
      assert.equal(asked.at(-1)!.query.get('index') !== null, true);
    } finally {
      svc.close();
      await other.stop();
    }
  });

  it('starts over from index 0 when the index goes backwards (a replaced server)', async () => {
    consul.set('back', [{ address: '10.0.6.1', port: 80 }]);
    for (let i = 0; i < 20; i++) consul.set('noise', []);
    consul.set('back', [{ address: '10.0.6.1', port: 80 }]);
    const svc = discovery(config([consul.url], { timeout: { connect: 500, read: 1000, wait: 1 } }));
    try {
      await svc.want([{ type: 'consul', name: 'back' }]);
      consul.reset();
      consul.set('back', [{ address: '10.0.6.2', port: 80 }]);
      await until(() => nodesOf(svc, 'back')?.[0]?.host === '10.0.6.2', 'the replaced server is read again', 6_000);
      const asked = consul.requests.filter((r) => r.path.endsWith('/back')).map((r) => r.query.get('index'));
      assert.ok(asked.slice(1).includes('0'), `asked again from 0: ${asked.join(',')}`);
    } finally {
      svc.close();
    }
  });

  it('counts a blocking query that never comes back as a failure after wait + wait/16 + read, keeping the last nodes', async () => {
    consul.set('hung', [{ address: '10.0.7.1', port: 80 }]);
    const timeout = { connect: 200, read: 300, wait: 1 };
    const svc = discovery(config([consul.url], { timeout }));
    try {
      await svc.want([{ type: 'consul', name: 'hung' }]);
      assert.deepEqual(nodesOf(svc, 'hung')?.map((n) => n.host), ['10.0.7.1']);
      consul.silencedAt.length = 0;
      consul.silent = true;
      await until(() => svc.status().consul!.errors > 0, 'the unanswered query is counted as a failure', 8_000);
      const waited = Date.now() - consul.silencedAt[0]!;
      const bound = timeout.wait * 1000 * (1 + 1 / 16) + timeout.read;
      assert.ok(waited >= bound - 50, `failed after ${waited} ms, before its ${bound} ms timeout`);
      assert.deepEqual(nodesOf(svc, 'hung')?.map((n) => n.host), ['10.0.7.1'], 'the last nodes keep serving');
      consul.silent = false;
      consul.set('hung', [{ address: '10.0.7.2', port: 80 }]);
      await until(() => nodesOf(svc, 'hung')?.[0]?.host === '10.0.7.2', 'recovered after the back-off', 5_000);
    } finally {
      consul.silent = false;
      svc.close();
    }
  });
});

describe('consul discovery through the gateway', () => {
  let consul: FakeConsul;
  let gw: Gateway;
  let a: TestUpstream; let b: TestUpstream;
  before(async () => {
    [consul, a, b] = await Promise.all([startFakeConsul(), startUpstream('a'), startUpstream('b')]);
    consul.token = TOKEN;
    consul.set('web', [{ address: '127.0.0.1', port: a.port }]);
    gw = await startGateway({
      workers: 2,
      extra: { discovery: { consul: { servers: [consul.url], token: TOKEN, timeout: { wait: 5 } } } },
      config: { routes: [{ id: 'web', uri: '/web', upstream: { discovery_type: 'consul', service_name: 'web' } }] },
    });
  });
  after(async () => {
    await gw?.stop();
    await Promise.all([consul?.stop(), a?.close(), b?.close()]);
  });

  it('proxies to the registered instances and follows a change with no failed request, never logging the token', async () => {
    await assertFollowsChange(`${gw.url}/web`, () => consul.set('web', [{ address: '127.0.0.1', port: b.port }]));
    const status = (await get(`${gw.statusUrl}/status/discovery`)).json().discovery.consul;
    assert.deepEqual(status.services.web.nodes, [{ host: '127.0.0.1', port: b.port, weight: 1 }]);
    assert.equal(gw.output().includes(TOKEN), false, 'the token is never logged');
    assert.equal(JSON.stringify(status).includes(TOKEN), false);
  });
});
