import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DiscoveredNode, ServiceRef } from '../../../src/contracts/discovery.js';
import type { DnsDiscoveryConfig } from '../../../src/contracts/node-config.js';
import type { DiscoveryService } from '../../../src/discovery/discovery-service.js';
import { discoveryWith, until } from '../../helpers/discovery.js';
import { dnsRegistry } from '../../../src/discovery/dns.js';
import { startDnsmasq, type TestDnsmasq } from '../../helpers/dnsmasq.js';

// The dns registry against a real DNS server (dnsmasq): every record type it reads, how
// SRV records become nodes, TTL-driven re-resolution, and a server that goes away.

let dns: TestDnsmasq;

before(async () => {
  dns = await startDnsmasq({
    hosts: ['127.0.0.2 web.test', '127.0.0.3 web.test', '::2 v6only.test', '127.0.0.5 one.test', '127.0.0.6 two.test', '127.0.0.7 two.test'],
    conf: [
      // name, target, port, priority, weight
      'srv-host=_http._tcp.svc.test,one.test,8001,10,60',
      'srv-host=_http._tcp.svc.test,two.test,8002,20,20',
      'srv-host=_http._tcp.zero.test,one.test,0,1,0',
      'cname=alias.test,one.test',
    ],
  });
});

after(async () => {
  await dns?.close();
});

function discovery(conf: Partial<DnsDiscoveryConfig> = {}): DiscoveryService {
  const config: DnsDiscoveryConfig = { servers: [dns.server], order: ['last', 'SRV', 'A', 'AAAA', 'CNAME'], ...conf };
  return discoveryWith('dns', dnsRegistry(config));
}

async function nodesOf(svc: DiscoveryService, name: string): Promise<DiscoveredNode[] | null | undefined> {
  const ref: ServiceRef = { type: 'dns', name };
  await svc.want([ref]);
  return svc.status().dns?.services[name]?.nodes;
}

const byHost = (nodes: DiscoveredNode[] | null | undefined): DiscoveredNode[] =>
  [...(nodes ?? [])].sort((a, b) => a.host.localeCompare(b.host) || (a.port ?? 0) - (b.port ?? 0));

describe('dns discovery against dnsmasq', () => {
  it('turns A records into nodes of weight 1 with the port of service_name', async () => {
    const svc = discovery();
    try {
      assert.deepEqual(byHost(await nodesOf(svc, 'web.test:8080')), [
        { host: '127.0.0.2', port: 8080, weight: 1 }, { host: '127.0.0.3', port: 8080, weight: 1 },
      ]);
      assert.deepEqual(await nodesOf(svc, 'v6only.test'), [{ host: '::2', weight: 1 }], 'AAAA when there is no A record; no port: the scheme decides');
      assert.deepEqual(await nodesOf(svc, '127.0.0.9:81'), [{ host: '127.0.0.9', port: 81, weight: 1 }], 'an address needs no lookup');
    } finally {
      svc.close();
    }
  });

  it('reads SRV records: their ports, weights split among a target\'s addresses, priorities negated', async () => {
    const svc = discovery();
    try {
      assert.deepEqual(byHost(await nodesOf(svc, '_http._tcp.svc.test')), [
        { host: '127.0.0.5', port: 8001, weight: 60, priority: -10 },
        { host: '127.0.0.6', port: 8002, weight: 10, priority: -20 },
        { host: '127.0.0.7', port: 8002, weight: 10, priority: -20 },
      ]);
      assert.deepEqual(await nodesOf(svc, '_http._tcp.zero.test'), [{ host: '127.0.0.5', weight: 1, priority: -1 }],
        'weight 0 counts as 1, port 0 leaves the port to the scheme');
      assert.deepEqual(await nodesOf(svc, '_http._tcp.svc.test:9000').then(byHost),
        [{ host: '127.0.0.5', port: 9000, weight: 60, priority: -10 }, { host: '127.0.0.6', port: 9000, weight: 10, priority: -20 },
          { host: '127.0.0.7', port: 9000, weight: 10, priority: -20 }], 'the port of service_name wins');
    } finally {
      svc.close();
    }
  });

  it('follows the configured order: A only does not read SRV records; CNAME first reads the alias', async () => {
    const aOnly = discovery({ order: ['A'] });
    const cnameFirst = discovery({ order: ['CNAME', 'A'] });
    try {
      assert.deepEqual(await nodesOf(aOnly, '_http._tcp.svc.test'), []);
      assert.equal(aOnly.status().dns!.reachable, true, 'a name without records is an answer, not a failure');
      assert.deepEqual(await nodesOf(cnameFirst, 'alias.test:1'), [{ host: '127.0.0.5', port: 1, weight: 1 }]);
    } finally {
      aOnly.close();
      cnameFirst.close();
    }
  });

  it('answers no nodes for a name that does not exist', async () => {
    const svc = discovery();
    try {
      assert.deepEqual(await nodesOf(svc, 'missing.test'), []);
    } finally {
      svc.close();
    }
  });

  it('resolves again when the TTL runs out, keeps the last nodes while the server is away, and recovers', async () => {
    const svc = discovery();
    try {
      assert.deepEqual(byHost(await nodesOf(svc, 'web.test:80')).map((n) => n.host), ['127.0.0.2', '127.0.0.3']);
      await dns.setHosts(['127.0.0.4 web.test']);
      await until(() => JSON.stringify(svc.status().dns!.services['web.test:80']!.nodes) === JSON.stringify([{ host: '127.0.0.4', weight: 1, port: 80 }]),
        'the new record is seen after its 1 s TTL');

      await dns.stop();
      await until(() => svc.status().dns!.errors > 0, 'a failed lookup is counted');
      const down = svc.status().dns!;
      assert.equal(down.reachable, false);
      assert.match(down.last_error ?? '', /web\.test/);
      assert.deepEqual(down.services['web.test:80']!.nodes, [{ host: '127.0.0.4', weight: 1, port: 80 }], 'the last known nodes are kept');

      await dns.setHosts(['127.0.0.2 web.test']);
      await dns.start();
      await until(() => svc.status().dns!.reachable && svc.status().dns!.services['web.test:80']!.nodes?.[0]?.host === '127.0.0.2',
        'recovery is picked up by itself');
    } finally {
      svc.close();
      await dns.setHosts(['127.0.0.2 web.test', '127.0.0.3 web.test', '::2 v6only.test', '127.0.0.5 one.test', '127.0.0.6 two.test', '127.0.0.7 two.test']);
    }
  });
});
