import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseNodeConfig } from './node-config.js';

const parse = (yaml: string): ReturnType<typeof parseNodeConfig> => parseNodeConfig(yaml, '/etc/gatehouse/config.yaml');

describe('stream_proxy in config.yaml', () => {
  it('is absent by default: no stream listener', () => {
    assert.equal(parse('').stream_proxy, undefined);
  });

  it('takes ports, "ip:port" strings and {addr, tls}, with timeouts and the UDP session bound defaulted', () => {
    const c = parse('stream_proxy:\n  tcp: [9100, "127.0.0.1:9101", {addr: "[::1]:9443", tls: true}]\n  udp: ["127.0.0.1:9200"]\n').stream_proxy!;
    assert.deepEqual(c.tcp, [
      { host: '0.0.0.0', port: 9100, tls: false },
      { host: '127.0.0.1', port: 9101, tls: false },
      { host: '::1', port: 9443, tls: true },
    ]);
    assert.deepEqual(c.udp, [{ host: '127.0.0.1', port: 9200, tls: false }]);
    assert.equal(c.idle_timeout, 600);
    assert.equal(c.udp_idle_timeout, 60);
    assert.equal(c.udp_max_sessions, 10000);
  });

  it('refuses a bad entry, a port clash with an HTTP listener, an empty section and APISIX\'s nesting under apisix:', () => {
    assert.throws(() => parse('stream_proxy:\n  tcp: ["localhost:9100"]\n'), /stream_proxy\.tcp/);
    assert.throws(() => parse('stream_proxy:\n  udp: [{addr: "127.0.0.1:9200", tls: true}]\n'), /stream_proxy\.udp/);
    assert.throws(() => parse('node:\n  listen: [{host: 0.0.0.0, port: 9100}]\nstream_proxy:\n  tcp: [9100]\n'), /stream_proxy\.tcp\[0\]: 0\.0\.0\.0:9100 is already used by node\.listen\[0\]/);
    assert.throws(() => parse('stream_proxy: {}\n'), /stream_proxy: needs at least one tcp or udp listener/);
    assert.throws(() => parse('apisix:\n  stream_proxy:\n    tcp: [9100]\n'), /apisix/);
  });
});
