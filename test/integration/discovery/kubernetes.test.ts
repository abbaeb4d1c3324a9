import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubernetesDiscoveryConfig } from '../../../src/contracts/node-config.js';
import type { DiscoveryService } from '../../../src/discovery/discovery-service.js';
import { kubernetesRegistry } from '../../../src/discovery/kubernetes.js';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { assertFollowsChange, discoveryWith, nodesIn, until } from '../../helpers/discovery.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { FakeKubeApiServer, startFakeKubeApiServer, startKubeTlsFront } from '../../helpers/fake-kube-apiserver.js';

// kubernetes discovery against a local server that speaks the Kubernetes API's list and
// watch (test/helpers/fake-kube-apiserver.ts; no real API server has been tried): the list
// in pages, the watch from the list's resourceVersion, resumed after it ends and listed
// again after 410 Gone, the bearer token (a token file read again per connection), TLS
// verified against the ca.crt beside the token file,
// namespace and label selectors, EndpointSlices, several clusters, an API server that goes away.


function cluster(api: FakeKubeApiServer, extra: Partial<KubernetesDiscoveryConfig> = {}): KubernetesDiscoveryConfig {
  return {
    service: { schema: 'http', host: '127.0.0.1', port: api.port, ssl_verify: false },
    client: { token: api.token }, default_weight: 50, watch_endpoint_slices: false, ...extra,
  };
}

const discovery = (clusters: KubernetesDiscoveryConfig[]): DiscoveryService => discoveryWith('kubernetes', kubernetesRegistry(clusters));

const nodesOf = (svc: DiscoveryService, name: string) => nodesIn(svc, 'kubernetes', name);
const want = (svc: DiscoveryService, ...names: string[]) => svc.want(names.map((name) => ({ type: 'kubernetes', name })));

const subset = (ips: string[], ports: { name?: string; port: number }[], notReady: string[] = []) => ({
  addresses: ips.map((ip) => ({ ip })), ...(notReady.length > 0 ? { notReadyAddresses: notReady.map((ip) => ({ ip })) } : {}), ports,
});

describe('kubernetes discovery (registry)', () => {
  let api: FakeKubeApiServer;
  before(async () => { api = await startFakeKubeApiServer(); });
  after(async () => { await api.stop(); });

  it('lists Endpoints page by page with the bearer token and reads ready addresses per port name or number', async () => {
    for (let i = 0; i < 130; i++) api.setEndpoints('filler', `svc-${i}`, []);
    api.setEndpoints('shop', 'orders', [
      subset(['10.0.0.2', '10.0.0.1'], [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9090 }], ['10.0.0.9']),
    ]);
    api.setEndpoints('shop', 'plain', [subset(['10.0.1.1'], [{ port: 7000 }])]);
    const svc = discovery([cluster(api, { default_weight: 7 })]);
    try {
      await want(svc, 'shop/orders:http', 'shop/orders:metrics', 'shop/plain:7000', 'shop/orders:nope', 'shop/missing:http', 'no-port');
      assert.deepEqual(nodesOf(svc, 'shop/orders:http'), [{ host: '10.0.0.1', port: 8080, weight: 7 }, { host: '10.0.0.2', port: 8080, weight: 7 }]);
      assert.deepEqual(nodesOf(svc, 'shop/orders:metrics')?.map((n) => n.port), [9090, 9090]);
      assert.deepEqual(nodesOf(svc, 'shop/plain:7000'), [{ host: '10.0.1.1', port: 7000, weight: 7 }]);
      assert.deepEqual(nodesOf(svc, 'shop/orders:nope'), []);
      assert.deepEqual(nodesOf(svc, 'shop/missing:http'), []);
      assert.deepEqual(nodesOf(svc, 'no-port'), []);
      const lists = api.requests.filter((r) => r.path === '/api/v1/endpoints' && !r.query.has('watch'));
      assert.ok(lists.length >= 2 && lists[1]!.query.get('continue') !== null, 'the list is read in pages');
      assert.equal(lists[0]!.query.get('limit'), '120');
      assert.equal(lists[0]!.authorization, `Bearer ${api.token}`);
    } finally {
      svc.close();
    }
  });

  it('watches from the list\'s version, resumes a watch that ends, and lists again after 410 Gone', async () => {
    api.setEndpoints('shop', 'pay', [subset(['10.0.2.1'], [{ name: 'http', port: 80 }])]);
    const svc = discovery([cluster(api)]);
    const from = api.requests.length;
    try {
      await want(svc, 'shop/pay:http');
      await until(() => api.openWatches > 0, 'the watch is open');
      const watch = api.requests.slice(from).find((r) => r.query.get('watch') === 'true')!;
      const list = api.requests.slice(from).find((r) => !r.query.has('watch'))!;
      assert.ok(list !== undefined && Number(watch.query.get('resourceVersion')) > 0);
      assert.equal(watch.query.get('allowWatchBookmarks'), 'true');

      api.setEndpoints('shop', 'pay', [subset(['10.0.2.2'], [{ name: 'http', port: 80 }])]);
      await until(() => nodesOf(svc, 'shop/pay:http')?.[0]?.host === '10.0.2.2', 'the change arrives by the watch');
      api.endWatches();
      api.setEndpoints('shop', 'pay', [subset(['10.0.2.3'], [{ name: 'http', port: 80 }])]);
      await until(() => nodesOf(svc, 'shop/pay:http')?.[0]?.host === '10.0.2.3', 'the resumed watch sees what happened meanwhile');
      const lists = (): number => api.requests.slice(from).filter((r) => !r.query.has('watch') && !r.query.has('continue')).length;
      assert.equal(lists(), 1, 'resuming a watch does not list again');

      api.compact();
      api.endWatches();
      api.delete('endpoints', 'shop', 'pay');
      await until(() => nodesOf(svc, 'shop/pay:http')?.length === 0, 'after 410 a new list shows the deletion');
      assert.equal(lists(), 2, 'listed again');
    } finally {
      svc.close();
    }
  });

  it('keeps the last nodes while the API server is away and lists again when it is back', async () => {
    api.setEndpoints('shop', 'cart', [subset(['10.0.3.1'], [{ name: 'http', port: 80 }])]);
    const svc = discovery([cluster(api)]);
    try {
      await want(svc, 'shop/cart:http');
      await api.stop();
      await until(() => svc.status().kubernetes!.errors > 0, 'the failure is counted');
      assert.equal(svc.status().kubernetes!.reachable, false);
      assert.deepEqual(nodesOf(svc, 'shop/cart:http'), [{ host: '10.0.3.1', port: 80, weight: 50 }]);
      api.setEndpoints('shop', 'cart', [subset(['10.0.3.2'], [{ name: 'http', port: 80 }])]);
      await api.start();
      await until(() => nodesOf(svc, 'shop/cart:http')?.[0]?.host === '10.0.3.2', 'recovered by itself', 10_000);
      assert.equal(svc.status().kubernetes!.reachable, true);
    } finally {
      svc.close();
    }
  });

  it('with ssl_verify, verifies the API server against the ca.crt beside the token file', async () => {
    const front = await startKubeTlsFront(api);
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-kube-'));
    const withCa = join(dir, 'with-ca');
    const withoutCa = join(dir, 'without-ca');
    await Promise.all([mkdir(withCa), mkdir(withoutCa)]);
    await Promise.all([
      writeFile(join(withCa, 'token'), api.token), writeFile(join(withCa, 'ca.crt'), front.cert), writeFile(join(withoutCa, 'token'), api.token),
    ]);
    const over = (tokenDir: string) => cluster(api, {
      service: { schema: 'https', host: '127.0.0.1', port: front.port, ssl_verify: true }, client: { token_file: join(tokenDir, 'token') },
    });
    api.setEndpoints('shop', 'tls', [subset(['10.0.8.1'], [{ name: 'http', port: 80 }])]);
    const verified = discovery([over(withCa)]);
    const unverified = discovery([over(withoutCa)]);
    try {
      await want(verified, 'shop/tls:http');
      assert.deepEqual(nodesOf(verified, 'shop/tls:http')?.map((n) => n.host), ['10.0.8.1']);
      await want(unverified, 'shop/tls:http');
      assert.equal(nodesOf(unverified, 'shop/tls:http'), null, 'without ca.crt the system CAs do not trust it');
      assert.match(unverified.status().kubernetes!.last_error ?? '', /certificate/i);
    } finally {
      verified.close();
      unverified.close();
      await front.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads its token file again at each connection, and refuses a wrong token visibly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-kube-'));
    const file = join(dir, 'token');
    await writeFile(file, `${api.token}\n`);
    const svc = discovery([cluster(api, { client: { token_file: file } })]);
    const from = api.requests.length;
    try {
      await want(svc, 'shop/cart:http');
      assert.equal(api.requests[from]!.authorization, `Bearer ${api.token}`, 'read from the file, trimmed');
      api.token = 'rotated-token';
      await writeFile(file, 'rotated-token');
      api.setEndpoints('shop', 'cart', [subset(['10.0.3.3'], [{ name: 'http', port: 80 }])]);
      api.endWatches();
      await until(() => nodesOf(svc, 'shop/cart:http')?.[0]?.host === '10.0.3.3', 'the rotated token is used');
    } finally {
      svc.close();
      api.token = 'kube-token';
      await rm(dir, { recursive: true, force: true });
    }
    const refused = discovery([cluster(api, { client: { token: 'wrong' } })]);
    try {
      await want(refused, 'shop/cart:http');
      assert.match(refused.status().kubernetes!.last_error ?? '', /list answered 401/);
      assert.equal(nodesOf(refused, 'shop/cart:http'), null);
    } finally {
      refused.close();
    }
  });

  it('selects namespaces by field selector or regex, and objects by label selector', async () => {
    api.setEndpoints('team-a', 'web', [subset(['10.1.0.1'], [{ name: 'http', port: 80 }])], { app: 'web' });
    api.setEndpoints('team-b', 'web', [subset(['10.1.0.2'], [{ name: 'http', port: 80 }])], { app: 'web' });
    api.setEndpoints('other', 'web', [subset(['10.1.0.3'], [{ name: 'http', port: 80 }])]);
    const equal = discovery([cluster(api, { namespace_selector: { equal: 'team-a' } })]);
    const match = discovery([cluster(api, { namespace_selector: { match: ['team-.*'] }, label_selector: 'app=web' })]);
    const from = api.requests.length;
    try {
      await want(equal, 'team-a/web:http', 'team-b/web:http');
      assert.deepEqual(nodesOf(equal, 'team-a/web:http')?.map((n) => n.host), ['10.1.0.1']);
      assert.deepEqual(nodesOf(equal, 'team-b/web:http'), []);
      assert.ok(api.requests.slice(from).some((r) => r.query.get('fieldSelector') === 'metadata.namespace=team-a'));
      await want(match, 'team-a/web:http', 'team-b/web:http', 'other/web:http');
      assert.deepEqual(nodesOf(match, 'team-b/web:http')?.map((n) => n.host), ['10.1.0.2']);
      assert.deepEqual(nodesOf(match, 'other/web:http'), []);
      assert.ok(api.requests.slice(from).some((r) => r.query.get('labelSelector') === 'app=web'));
    } finally {
      equal.close();
      match.close();
    }
  });

  it('leaves namespaces out by not_equal (a field selector) or not_match (regexes)', async () => {
    api.setEndpoints('team-a', 'web', [subset(['10.1.0.1'], [{ name: 'http', port: 80 }])], { app: 'web' });
    api.setEndpoints('team-b', 'web', [subset(['10.1.0.2'], [{ name: 'http', port: 80 }])], { app: 'web' });
    api.setEndpoints('other', 'web', [subset(['10.1.0.3'], [{ name: 'http', port: 80 }])]);
    const notEqual = discovery([cluster(api, { namespace_selector: { not_equal: 'team-a' } })]);
    const notMatch = discovery([cluster(api, { namespace_selector: { not_match: ['team-.*', 'nothing'] } })]);
    const from = api.requests.length;
    const names = ['team-a/web:http', 'team-b/web:http', 'other/web:http'];
    try {
      await want(notEqual, ...names);
      assert.deepEqual(names.map((n) => nodesOf(notEqual, n)?.map((x) => x.host)), [[], ['10.1.0.2'], ['10.1.0.3']]);
      assert.ok(api.requests.slice(from).some((r) => r.query.get('fieldSelector') === 'metadata.namespace!=team-a'));
      await want(notMatch, ...names);
      assert.deepEqual(names.map((n) => nodesOf(notMatch, n)?.map((x) => x.host)), [[], [], ['10.1.0.3']]);
    } finally {
      notEqual.close();
      notMatch.close();
    }
  });

  it('merges a service\'s EndpointSlices, leaving out endpoints that are not ready', async () => {
    api.setSlice('shop', 'orders-abc', 'orders', [
      { addresses: ['10.2.0.1'], conditions: { ready: true } }, { addresses: ['10.2.0.9'], conditions: { ready: false } },
    ], [{ name: 'http', port: 8080 }]);
    api.setSlice('shop', 'orders-def', 'orders', [{ addresses: ['10.2.0.2'] }], [{ name: 'http', port: 8080 }]);
    const svc = discovery([cluster(api, { watch_endpoint_slices: true })]);
    try {
      await want(svc, 'shop/orders:http');
      assert.deepEqual(nodesOf(svc, 'shop/orders:http')?.map((n) => n.host), ['10.2.0.1', '10.2.0.2']);
      assert.ok(api.requests.some((r) => r.path === '/apis/discovery.k8s.io/v1/endpointslices'));
      await until(() => api.openWatches > 0, 'the watch is open');
      api.delete('endpointslices', 'shop', 'orders-abc');
      await until(() => nodesOf(svc, 'shop/orders:http')?.length === 1, 'a deleted slice takes its endpoints');
    } finally {
      svc.close();
    }
  });

  it('keeps several clusters apart by id', async () => {
    const other = await startFakeKubeApiServer();
    api.setEndpoints('shop', 'multi', [subset(['10.3.0.1'], [{ name: 'http', port: 80 }])]);
    other.setEndpoints('shop', 'multi', [subset(['10.3.0.2'], [{ name: 'http', port: 80 }])]);
    const svc = discovery([{ ...cluster(api), id: 'east' }, { ...cluster(other), id: 'west' }]);
    try {
      await want(svc, 'east/shop/multi:http', 'west/shop/multi:http', 'shop/multi:http', 'north/shop/multi:http');
      assert.deepEqual(nodesOf(svc, 'east/shop/multi:http')?.map((n) => n.host), ['10.3.0.1']);
      assert.deepEqual(nodesOf(svc, 'west/shop/multi:http')?.map((n) => n.host), ['10.3.0.2']);
      assert.deepEqual(nodesOf(svc, 'shop/multi:http'), [], 'without its cluster id a name matches nothing');
      assert.deepEqual(nodesOf(svc, 'north/shop/multi:http'), []);
    } finally {
      svc.close();
      await other.stop();
    }
  });
});

describe('kubernetes discovery through the gateway', () => {
  let api: FakeKubeApiServer;
  let gw: Gateway;
  let a: TestUpstream; let b: TestUpstream;
  before(async () => {
    [api, a, b] = await Promise.all([startFakeKubeApiServer(), startUpstream('a'), startUpstream('b')]);
    api.setEndpoints('shop', 'web', [subset(['127.0.0.1'], [{ name: 'http', port: a.port }])]);
    gw = await startGateway({
      workers: 2,
      env: { TEST_KUBE_HOST: '127.0.0.1', TEST_KUBE_PORT: String(api.port), TEST_KUBE_TOKEN: api.token },
      extra: {
        discovery: {
          kubernetes: {
            service: { schema: 'http', host: '${TEST_KUBE_HOST}', port: '${TEST_KUBE_PORT}' },
            client: { token: '${TEST_KUBE_TOKEN}' },
          },
        },
      },
      config: { routes: [{ id: 'web', uri: '/web', upstream: { discovery_type: 'kubernetes', service_name: 'shop/web:http' } }] },
    });
  });
  after(async () => {
    await gw?.stop();
    await Promise.all([api?.stop(), a?.close(), b?.close()]);
  });

  it('proxies to the endpoints and follows a change with no failed request', async () => {
    await assertFollowsChange(`${gw.url}/web`, () => api.setEndpoints('shop', 'web', [subset(['127.0.0.1'], [{ name: 'http', port: b.port }])]));
    assert.equal(gw.output().includes(api.token), false, 'the token is never logged');
  });
});
