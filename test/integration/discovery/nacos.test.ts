import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NacosDiscoveryConfig } from '../../../src/contracts/node-config.js';
import type { ServiceRef } from '../../../src/contracts/discovery.js';
import type { DiscoveryService } from '../../../src/discovery/discovery-service.js';
import { nacosRegistry } from '../../../src/discovery/nacos.js';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { assertFollowsChange, discoveryWith, nodesIn, until } from '../../helpers/discovery.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { FakeNacos, startFakeNacos } from '../../helpers/fake-nacos.js';

// nacos discovery against a local server that speaks Nacos's v1 open API
// (test/helpers/fake-nacos.ts; no real Nacos has been tried): what the gateway asks for
// (healthy instances by service, namespace and group), token login when the host URL has
// credentials, signed requests with access_key/secret_key, polling every fetch_interval,
// failing over between hosts, and keeping the last nodes when every host is away.


function config(hosts: string[], extra: Partial<NacosDiscoveryConfig> = {}): NacosDiscoveryConfig {
  return {
    host: hosts, prefix: '/nacos/v1/', fetch_interval: 30, weight: 100, access_key: '', secret_key: '',
    timeout: { connect: 500, send: 500, read: 1000 }, ...extra,
  };
}

const discovery = (conf: NacosDiscoveryConfig): DiscoveryService => discoveryWith('nacos', nacosRegistry(conf));

const nodesOf = (svc: DiscoveryService, label: string) => nodesIn(svc, 'nacos', label);

describe('nacos discovery (registry)', () => {
  let nacos: FakeNacos;
  before(async () => { nacos = await startFakeNacos(); });
  after(async () => { await nacos.stop(); });

  it('reads the healthy, enabled instances of a service by namespace and group', async () => {
    nacos.set('orders', [{ ip: '10.0.0.1', port: 8080, weight: 2 }, { ip: '10.0.0.2', port: 8080, healthy: false }]);
    nacos.set('orders', [{ ip: '10.1.0.1', port: 9090, metadata: { version: 'v2' } }, { ip: '10.1.0.2', port: 9090, enabled: false }], 'prod', 'blue');
    const svc = discovery(config([nacos.url]));
    try {
      const refs: ServiceRef[] = [
        { type: 'nacos', name: 'orders' },
        { type: 'nacos', name: 'orders', args: { namespace_id: 'prod', group_name: 'blue' } },
        { type: 'nacos', name: 'unknown' },
      ];
      await svc.want(refs);
      assert.deepEqual(nodesOf(svc, 'public/DEFAULT_GROUP/orders'), [{ host: '10.0.0.1', port: 8080, weight: 2 }]);
      assert.deepEqual(nodesOf(svc, 'prod/blue/orders'), [{ host: '10.1.0.1', port: 9090, weight: 1, metadata: { version: 'v2' } }]);
      assert.deepEqual(nodesOf(svc, 'public/DEFAULT_GROUP/unknown'), []);
      const asked = nacos.requests.filter((r) => r.path === '/nacos/v1/ns/instance/list' && r.query.get('namespaceId') === 'prod')[0]!;
      assert.equal(asked.query.get('serviceName'), 'orders');
      assert.equal(asked.query.get('groupName'), 'blue');
      assert.equal(asked.query.get('healthyOnly'), 'true');
    } finally {
      svc.close();
    }
  });

  it('logs in first when the host URL has credentials, the password in the form body, and sends the token', async () => {
    nacos.users = { nacos: 'p@ss:word' };
    nacos.set('auth', [{ ip: '10.0.1.1', port: 80 }]);
    const before = nacos.requests.length;
    const svc = discovery(config([`http://nacos:${encodeURIComponent('p@ss:word')}@127.0.0.1:${nacos.port}`]));
    const refused = discovery(config([`http://nacos:wrong@127.0.0.1:${nacos.port}`]));
    try {
      await svc.want([{ type: 'nacos', name: 'auth' }]);
      assert.deepEqual(nodesOf(svc, 'public/DEFAULT_GROUP/auth'), [{ host: '10.0.1.1', port: 80, weight: 1 }]);
      const mine = nacos.requests.slice(before);
      const login = mine.find((r) => r.path === '/nacos/v1/auth/login')!;
      assert.equal(login.method, 'POST');
      assert.equal(login.form.get('password'), 'p@ss:word');
      assert.equal(login.query.get('password'), null, 'the password is never in a URL');
      assert.equal(mine.find((r) => r.path.endsWith('/instance/list'))!.query.get('accessToken'), 'token-1');

      await refused.want([{ type: 'nacos', name: 'auth' }]);
      assert.equal(nodesOf(refused, 'public/DEFAULT_GROUP/auth'), null);
      assert.match(refused.status().nacos!.last_error!, /login as nacos refused \(403\)/);
      assert.equal(refused.status().nacos!.last_error!.includes('wrong'), false, 'the password is not in the error');
    } finally {
      svc.close();
      refused.close();
      nacos.users = undefined;
    }
  });

  it('signs its requests with access_key and secret_key', async () => {
    nacos.accessKey = 'ak-1';
    nacos.secretKey = 'sk-1';
    nacos.set('signed', [{ ip: '10.0.2.1', port: 80 }]);
    const svc = discovery(config([nacos.url], { access_key: 'ak-1', secret_key: 'sk-1' }));
    try {
      await svc.want([{ type: 'nacos', name: 'signed' }]);
      assert.deepEqual(nodesOf(svc, 'public/DEFAULT_GROUP/signed'), [{ host: '10.0.2.1', port: 80, weight: 1 }]);
      const asked = nacos.requests.filter((r) => r.query.get('serviceName') === 'signed').at(-1)!;
      assert.match(asked.query.get('data') ?? '', /^\d+@@DEFAULT_GROUP@@signed$/);
    } finally {
      svc.close();
      nacos.accessKey = undefined;
    }
  });

  it('polls every fetch_interval, fails over to another host, and keeps the last nodes when every host is away', async () => {
    const other = await startFakeNacos();
    nacos.set('poll', [{ ip: '10.0.3.1', port: 80 }]);
    other.set('poll', [{ ip: '10.0.3.1', port: 80 }]);
    const svc = discovery(config([nacos.url, other.url], { fetch_interval: 1 }));
    try {
      await svc.want([{ type: 'nacos', name: 'poll' }]);
      assert.deepEqual(nodesOf(svc, 'public/DEFAULT_GROUP/poll'), [{ host: '10.0.3.1', port: 80, weight: 1 }]);
      await nacos.stop();
      other.set('poll', [{ ip: '10.0.3.2', port: 80 }]);
      await until(() => nodesOf(svc, 'public/DEFAULT_GROUP/poll')?.[0]?.host === '10.0.3.2', 'the other host answers the next round', 5_000);
      assert.equal(svc.status().nacos!.reachable, true, 'a host passed over is not a failure of the registry');

      await other.stop();
      await until(() => svc.status().nacos!.errors > 0, 'the failure is counted', 5_000);
      assert.equal(svc.status().nacos!.reachable, false);
      assert.deepEqual(nodesOf(svc, 'public/DEFAULT_GROUP/poll'), [{ host: '10.0.3.2', port: 80, weight: 1 }], 'the last nodes keep serving');
      await nacos.start();
      nacos.set('poll', [{ ip: '10.0.3.3', port: 80 }]);
      await until(() => nodesOf(svc, 'public/DEFAULT_GROUP/poll')?.[0]?.host === '10.0.3.3', 'recovered by itself', 5_000);
      assert.equal(svc.status().nacos!.reachable, true);
    } finally {
      svc.close();
      await other.stop();
      if (nacos.port !== 0) await nacos.start().catch(() => undefined);
    }
  });

  it('gives an instance that reports no weight the configured weight', async () => {
    nacos.set('weightless', [{ ip: '10.0.5.1', port: 80, weight: null }, { ip: '10.0.5.2', port: 80, weight: 7 }]);
    const svc = discovery(config([nacos.url], { weight: 42 }));
    try {
      await svc.want([{ type: 'nacos', name: 'weightless' }]);
      assert.deepEqual(nodesOf(svc, 'public/DEFAULT_GROUP/weightless')?.map((n) => n.weight), [42, 7]);
    } finally {
      svc.close();
    }
  });

  for (const stall of ['silent', 'dribble'] as const) {
    it(`counts a host that ${stall === 'silent' ? 'never answers' : 'never finishes its answer'} as a failure once its timeout passed, keeping the last nodes`, async () => {
      nacos.set('stalled', [{ ip: '10.0.6.1', port: 80 }]);
      // read bounds the wait for the head and between body pieces; connect + send + read the whole request
      const timeout = { connect: 200, send: 200, read: 300 };
      const svc = discovery(config([nacos.url], { fetch_interval: 1, timeout }));
      try {
        await svc.want([{ type: 'nacos', name: 'stalled' }]);
        assert.deepEqual(nodesOf(svc, 'public/DEFAULT_GROUP/stalled')?.map((n) => n.host), ['10.0.6.1']);
        nacos.stalledAt.length = 0;
        nacos.stall = stall;
        await until(() => svc.status().nacos!.errors > 0, 'the stalled request is counted as a failure', 6_000);
        const waited = Date.now() - nacos.stalledAt[0]!;
        const bound = stall === 'silent' ? timeout.read : timeout.connect + timeout.send + timeout.read;
        assert.ok(waited >= bound - 50, `failed after ${waited} ms, before its ${bound} ms timeout`);
        assert.match(svc.status().nacos!.last_error ?? '', /127\.0\.0\.1:\d+\/nacos\/v1\/ns\/instance\/list/);
        assert.deepEqual(nodesOf(svc, 'public/DEFAULT_GROUP/stalled')?.map((n) => n.host), ['10.0.6.1'], 'the last nodes keep serving');
        nacos.stall = undefined;
        nacos.set('stalled', [{ ip: '10.0.6.2', port: 80 }]);
        await until(() => nodesOf(svc, 'public/DEFAULT_GROUP/stalled')?.[0]?.host === '10.0.6.2', 'recovered at the next round', 5_000);
      } finally {
        nacos.stall = undefined;
        svc.close();
      }
    });
  }
});

describe('nacos discovery through the gateway', () => {
  let nacos: FakeNacos;
  let gw: Gateway;
  let a: TestUpstream; let b: TestUpstream;
  before(async () => {
    [nacos, a, b] = await Promise.all([startFakeNacos(), startUpstream('a'), startUpstream('b')]);
    nacos.users = { gw: 'secret-pw' };
    nacos.set('web', [{ ip: '127.0.0.1', port: a.port }], 'prod', 'blue');
    gw = await startGateway({
      workers: 2,
      extra: { discovery: { nacos: { host: [`http://gw:secret-pw@127.0.0.1:${nacos.port}`], fetch_interval: 1 } } },
      config: {
        routes: [{
          id: 'web', uri: '/web',
          upstream: { discovery_type: 'nacos', service_name: 'web', discovery_args: { namespace_id: 'prod', group_name: 'blue' } },
        }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await Promise.all([nacos?.stop(), a?.close(), b?.close()]);
  });

  it('proxies to the instances of the namespace and group, and follows a change with no failed request', async () => {
    await assertFollowsChange(`${gw.url}/web`, () => nacos.set('web', [{ ip: '127.0.0.1', port: b.port }], 'prod', 'blue'));
    assert.equal(gw.output().includes('secret-pw'), false, 'the password is never logged');
    const status = (await get(`${gw.statusUrl}/status/discovery`)).body;
    assert.equal(status.includes('secret-pw'), false);
  });
});
