import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { EurekaDiscoveryConfig } from '../../../src/contracts/node-config.js';
import type { DiscoveryService } from '../../../src/discovery/discovery-service.js';
import { eurekaRegistry } from '../../../src/discovery/eureka.js';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { assertFollowsChange, discoveryWith, nodesIn, until } from '../../helpers/discovery.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { FakeEureka, startFakeEureka } from '../../helpers/fake-eureka.js';

// eureka discovery against a local server that speaks Eureka's REST API
// (test/helpers/fake-eureka.ts; no real Eureka has been tried): the whole registry read
// every fetch_interval with Basic auth from the host URL, UP instances only (an overridden
// status wins), the secure port when enabled, weights from metadata, host failover, and the
// last nodes kept while every host is away.


function config(hosts: string[], extra: Partial<EurekaDiscoveryConfig> = {}): EurekaDiscoveryConfig {
  return { host: hosts, prefix: '/eureka/', fetch_interval: 30, weight: 100, timeout: { connect: 500, send: 500, read: 1000 }, ...extra };
}

const discovery = (conf: EurekaDiscoveryConfig): DiscoveryService => discoveryWith('eureka', eurekaRegistry(conf));

const nodesOf = (svc: DiscoveryService, label: string) => nodesIn(svc, 'eureka', label);

describe('eureka discovery (registry)', () => {
  let eureka: FakeEureka;
  before(async () => { eureka = await startFakeEureka(); });
  after(async () => { await eureka.stop(); });

  it('reads UP instances with Basic auth: secure port when enabled, weight from metadata, names ignoring case', async () => {
    eureka.auth = { user: 'eu', password: 'p@ss' };
    eureka.set('USER-SERVICE', [
      { ip: '10.0.0.1', port: 8080, metadata: { weight: '5', zone: 'a' } },
      { ip: '10.0.0.2', port: 8080, securePort: 8443 },
      { ip: '10.0.0.3', port: 8080, status: 'DOWN' },
      { ip: '10.0.0.4', port: 8080, status: 'UP', overriddenStatus: 'OUT_OF_SERVICE' },
      { ip: '10.0.0.5', port: 8080, status: 'STARTING', overriddenStatus: 'UP' },
    ]);
    eureka.set('ONE', [{ ip: '10.0.1.1', port: 80 }]);
    const svc = discovery(config([`http://eu:${encodeURIComponent('p@ss')}@127.0.0.1:${eureka.port}`], { weight: 3 }));
    try {
      await svc.want([{ type: 'eureka', name: 'user-service' }, { type: 'eureka', name: 'ONE' }, { type: 'eureka', name: 'NONE' }]);
      assert.deepEqual(nodesOf(svc, 'user-service'), [
        { host: '10.0.0.1', port: 8080, weight: 5, metadata: { zone: 'a' } },
        { host: '10.0.0.2', port: 8443, weight: 3 },
        { host: '10.0.0.5', port: 8080, weight: 3 },
      ]);
      assert.deepEqual(nodesOf(svc, 'ONE'), [{ host: '10.0.1.1', port: 80, weight: 3 }], 'a list of one written as its element');
      assert.deepEqual(nodesOf(svc, 'NONE'), []);
      const asked = eureka.requests.at(-1)!;
      assert.equal(asked.path, '/eureka/apps');
      assert.equal(asked.accept, 'application/json');
      assert.equal(asked.authorization, `Basic ${Buffer.from('eu:p@ss').toString('base64')}`);
    } finally {
      svc.close();
      eureka.auth = undefined;
    }
  });

  it('polls every fetch_interval, fails over to another host, and keeps the last nodes when every host is away', async () => {
    const other = await startFakeEureka();
    eureka.set('POLL', [{ ip: '10.0.2.1', port: 80 }]);
    other.set('POLL', [{ ip: '10.0.2.1', port: 80 }]);
    const svc = discovery(config([eureka.url, other.url], { fetch_interval: 1 }));
    try {
      await svc.want([{ type: 'eureka', name: 'POLL' }]);
      assert.deepEqual(nodesOf(svc, 'POLL'), [{ host: '10.0.2.1', port: 80, weight: 100 }]);
      await eureka.stop();
      other.set('POLL', [{ ip: '10.0.2.2', port: 80 }]);
      await until(() => nodesOf(svc, 'POLL')?.[0]?.host === '10.0.2.2', 'the other host answers', 5_000);
      assert.equal(svc.status().eureka!.reachable, true);
      await other.stop();
      await until(() => svc.status().eureka!.errors > 0, 'the failure is counted', 5_000);
      assert.equal(svc.status().eureka!.reachable, false);
      assert.deepEqual(nodesOf(svc, 'POLL'), [{ host: '10.0.2.2', port: 80, weight: 100 }], 'the last nodes keep serving');
      await eureka.start();
      eureka.set('POLL', [{ ip: '10.0.2.3', port: 80 }]);
      await until(() => nodesOf(svc, 'POLL')?.[0]?.host === '10.0.2.3', 'recovered by itself', 5_000);
    } finally {
      svc.close();
      await other.stop();
    }
  });
});

describe('eureka discovery through the gateway', () => {
  let eureka: FakeEureka;
  let gw: Gateway;
  let a: TestUpstream; let b: TestUpstream;
  before(async () => {
    [eureka, a, b] = await Promise.all([startFakeEureka(), startUpstream('a'), startUpstream('b')]);
    eureka.set('WEB', [{ ip: '127.0.0.1', port: a.port }]);
    gw = await startGateway({
      workers: 2,
      extra: { discovery: { eureka: { host: [eureka.url], prefix: '/eureka/', fetch_interval: 1 } } },
      config: { routes: [{ id: 'web', uri: '/web', upstream: { discovery_type: 'eureka', service_name: 'WEB' } }] },
    });
  });
  after(async () => {
    await gw?.stop();
    await Promise.all([eureka?.stop(), a?.close(), b?.close()]);
  });

  it('proxies to the UP instances and follows a change with no failed request', async () => {
    await assertFollowsChange(`${gw.url}/web`, () => eureka.set('WEB', [{ ip: '127.0.0.1', port: b.port }]));
  });
});
