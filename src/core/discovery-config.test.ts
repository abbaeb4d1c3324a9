import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseNodeConfig } from './node-config.js';
import { isServerAddress } from './discovery-config.js';

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

  it('recognises DNS server addresses', () => {
    for (const ok of ['127.0.0.1', '127.0.0.1:53', '::1', '[::1]:5353']) assert.equal(isServerAddress(ok), true, ok);
    for (const bad of ['localhost', '127.0.0.1:0', '127.0.0.1:99999', '[127.0.0.1]:53', '::1:53x']) assert.equal(isServerAddress(bad), false, bad);
  });
});
