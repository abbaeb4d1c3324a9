import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseNodeConfig } from './node-config.js';
import { isServerAddress, resolveDiscovery } from './discovery-config.js';

const parse = (yaml: string): ReturnType<typeof parseNodeConfig> => parseNodeConfig(yaml, '/etc/gatehouse/config.yaml');

describe('discovery in config.yaml', () => {
  it('enables no registry by default', () => {
    assert.deepEqual(parse('').discovery, {});
  });

  it('takes dns servers or a resolv.conf (made absolute), with APISIX\'s default order', () => {
    assert.deepEqual(parse('discovery:\n  dns:\n    servers: ["127.0.0.1:8600", "[::1]:53", "10.0.0.1"]\n').discovery.dns,
      { servers: ['127.0.0.1:8600', '[::1]:53', '10.0.0.1'], order: ['last', 'SRV', 'A', 'AAAA', 'CNAME'] });
    assert.equal(parse('discovery:\n  dns:\n    resolv_conf: dns/resolv.conf\n    order: [A]\n').discovery.dns!.resolv_conf, '/etc/gatehouse/dns/resolv.conf');
  });

  it('refuses dns settings that cannot work, naming the key', () => {
    assert.throws(() => parse('discovery:\n  dns: {}\n'), /discovery\.dns: set exactly one of servers and resolv_conf/);
    assert.throws(() => parse('discovery:\n  dns:\n    servers: ["a"]\n    resolv_conf: /etc/resolv.conf\n'), /exactly one/);
    assert.throws(() => parse('discovery:\n  dns:\n    servers: ["dns.example:53"]\n'), /discovery\.dns\.servers\[0\]: "dns\.example:53" is not an IP address/);
    assert.throws(() => parse('discovery:\n  dns:\n    servers: ["127.0.0.1:53"]\n    order: [MX]\n'), /discovery\.dns\.order/);
    assert.throws(() => parse('discovery:\n  dns:\n    servers: ["127.0.0.1:53"]\n    order: [last]\n'), /must name a record type besides last/);
  });

  it('fills consul\'s defaults as APISIX does', () => {
    const consul = parse('discovery:\n  consul:\n    servers: ["http://127.0.0.1:8500"]\n').discovery.consul!;
    assert.deepEqual(consul, {
      servers: ['http://127.0.0.1:8500'], token: '', fetch_interval: 3, keepalive: true, weight: 1, sort_type: 'origin',
      timeout: { connect: 2000, read: 2000, wait: 60 },
    });
  });

  it('refuses consul settings it cannot honour, naming the key', () => {
    assert.throws(() => parse('discovery:\n  consul: {}\n'), /discovery\.consul\.servers: is required/);
    assert.throws(() => parse('discovery:\n  consul:\n    servers: ["127.0.0.1:8500"]\n'), /discovery\.consul\.servers/);
    assert.throws(() => parse('discovery:\n  consul:\n    servers: ["http://127.0.0.1:8500/v1"]\n'), /discovery\.consul\.servers\[0\]: must be http\(s\):\/\/host:port/);
    assert.throws(() => parse('discovery:\n  consul:\n    servers: ["http://127.0.0.1:8500"]\n    shared_size: 1m\n'), /discovery\.consul\.shared_size: .*no nginx shared dict/);
    assert.throws(() => parse('discovery:\n  consul:\n    servers: ["http://127.0.0.1:8500"]\n    dump: {path: x}\n'), /discovery\.consul\.dump: not supported/);
    assert.throws(() => parse('discovery:\n  eureka2: {}\n'), /unknown key "discovery\.eureka2"/);
  });

  it('fills nacos\'s defaults and refuses half a key pair', () => {
    assert.deepEqual(parse('discovery:\n  nacos:\n    host: ["http://u:p@127.0.0.1:8848"]\n').discovery.nacos, {
      host: ['http://u:p@127.0.0.1:8848'], prefix: '/nacos/v1/', fetch_interval: 30, weight: 100, access_key: '', secret_key: '',
      timeout: { connect: 2000, send: 2000, read: 5000 },
    });
    assert.throws(() => parse('discovery:\n  nacos:\n    host: ["http://127.0.0.1:8848"]\n    access_key: a\n'), /access_key and secret_key must be set together/);
    assert.throws(() => parse('discovery:\n  nacos:\n    host: ["127.0.0.1:8848"]\n'), /discovery\.nacos\.host/);
  });

  it('reads kubernetes\'s one-cluster form with APISIX\'s defaults, ${VAR} from the environment', () => {
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    assert.deepEqual(resolveDiscovery({ kubernetes: {} }, '/etc/gatehouse', env).kubernetes, [{
      default_weight: 50, watch_endpoint_slices: false,
      service: { schema: 'https', host: '10.96.0.1', port: 443, ssl_verify: false },
      client: { token_file: '/var/run/secrets/kubernetes.io/serviceaccount/token' },
    }]);
    assert.throws(() => resolveDiscovery({ kubernetes: {} }, '/etc', {}), /discovery\.kubernetes\.service\.host: environment variable KUBERNETES_SERVICE_HOST is not set/);
    const two = resolveDiscovery({ kubernetes: [
      { id: 'east', service: { schema: 'http', host: 'api.east', port: 6443 }, client: { token: '${TOKEN}' } },
      { id: 'west', service: { host: 'api.west', port: '6443' }, client: { token_file: 'west.token' } },
    ] }, '/etc/gatehouse', { TOKEN: ' abc ' }).kubernetes!;
    assert.deepEqual(two.map((c) => [c.id, c.service.schema, c.service.port, c.client]),
      [['east', 'http', 6443, { token: 'abc' }], ['west', 'https', 6443, { token_file: '/etc/gatehouse/west.token' }]]);
  });

  it('refuses kubernetes settings that cannot work, naming the key', () => {
    const k8s = (yaml: string) => parse(`discovery:\n  kubernetes: ${yaml}\n`);
    assert.throws(() => k8s('[{service: {host: a, port: 1}, client: {token: t}}]'), /discovery\.kubernetes/);
    assert.throws(() => k8s('[{id: a, service: {host: a, port: 1}, client: {token: t}}, {id: a, service: {host: b, port: 1}, client: {token: t}}]'), /discovery\.kubernetes\[1\]\.id: "a" is used twice/);
    assert.throws(() => k8s('{service: {host: a, port: 1}, client: {token: t, token_file: f}}'), /discovery\.kubernetes\.client: set exactly one of token and token_file/);
    assert.throws(() => k8s('{service: {host: a, port: "99999"}, client: {token: t}}'), /discovery\.kubernetes\.service\.port: "99999" is not a port/);
    assert.throws(() => k8s('{service: {host: a, port: 1}, client: {token: t}, shared_size: 1m}'), /discovery\.kubernetes\.shared_size/);
    assert.throws(() => k8s('{service: {host: a, port: 1}, client: {token: t}, namespace_selector: {match: ["(unclosed"]}}'), /discovery\.kubernetes\.namespace_selector\.match\[0\]/);
  });

  it('fills eureka\'s defaults', () => {
    assert.deepEqual(parse('discovery:\n  eureka:\n    host: ["http://127.0.0.1:8761"]\n    prefix: /eureka/\n').discovery.eureka, {
      host: ['http://127.0.0.1:8761'], prefix: '/eureka/', fetch_interval: 30, weight: 100, timeout: { connect: 2000, send: 2000, read: 5000 },
    });
    assert.throws(() => parse('discovery:\n  eureka:\n    host: ["http://"]\n'), /discovery\.eureka\.host\[0\]: "http:\/\/" is not a URL/);
  });

  it('recognises DNS server addresses', () => {
    for (const ok of ['127.0.0.1', '127.0.0.1:53', '::1', '[::1]:5353']) assert.equal(isServerAddress(ok), true, ok);
    for (const bad of ['localhost', '127.0.0.1:0', '127.0.0.1:99999', '[127.0.0.1]:53', '::1:53x']) assert.equal(isServerAddress(bad), false, bad);
  });
});
