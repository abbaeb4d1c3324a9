import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StreamRoute } from '../../contracts/resources.js';
import { StreamRouter, type CompiledStreamRoute, type StreamFacts } from './stream-router.js';

const route = (id: string, conf: StreamRoute): CompiledStreamRoute => ({ id, conf, upstream: undefined, plugins: [] });
const facts = (f: Partial<StreamFacts> = {}): StreamFacts =>
  ({ remoteAddr: '127.0.0.1', serverAddr: '127.0.0.1', serverPort: 9100, sni: undefined, ...f });

describe('StreamRouter', () => {
  it('matches remote_addr, server_addr and server_port; absent conditions match anything', () => {
    const r = new StreamRouter([
      route('port', { server_port: 9101 }),
      route('net', { remote_addr: '10.0.0.0/8' }),
      route('server', { server_addr: '192.168.1.1' }),
    ]);
    assert.equal(r.match(facts({ serverPort: 9101 }))?.id, 'port');
    assert.equal(r.match(facts({ remoteAddr: '10.1.2.3' }))?.id, 'net');
    assert.equal(r.match(facts({ serverAddr: '192.168.1.1' }))?.id, 'server');
    assert.equal(r.match(facts()), undefined);
    assert.equal(new StreamRouter([route('any', {})]).match(facts())?.id, 'any');
  });

  it('prefers the most specific route whatever the store order, then the lowest id', () => {
    const r = new StreamRouter([
      route('1', {}),
      route('2', { remote_addr: '127.0.0.0/8' }),
      route('3', { remote_addr: '127.0.0.1/32' }),
      route('4', { remote_addr: '127.0.0.0/8', server_port: 9100 }),
    ]);
    assert.equal(r.match(facts())?.id, '4');
    assert.equal(r.match(facts({ serverPort: 1 }))?.id, '3');
    assert.equal(r.match(facts({ serverPort: 1, remoteAddr: '127.0.0.2' }))?.id, '2');
    assert.equal(r.match(facts({ remoteAddr: '8.8.8.8' }))?.id, '1');
    assert.equal(new StreamRouter([route('10', {}), route('9', {})]).match(facts())?.id, '9');
  });

  it('tries SNI routes first (exact, then the longest wildcard, deeper names included), then plain ones; SNI routes need an SNI', () => {
    const r = new StreamRouter([
      route('plain', { server_port: 9100 }),
      route('exact', { sni: 'a.example.com' }),
      route('wild', { sni: '*.example.com' }),
      route('wilder', { sni: '*.b.example.com' }),
      route('exact-other-port', { sni: 'c.example.com', server_port: 1 }),
    ]);
    assert.equal(r.match(facts({ sni: 'a.example.com' }))?.id, 'exact');
    assert.equal(r.match(facts({ sni: 'x.example.com' }))?.id, 'wild');
    assert.equal(r.match(facts({ sni: 'x.y.example.com' }))?.id, 'wild');
    assert.equal(r.match(facts({ sni: 'x.b.example.com' }))?.id, 'wilder');
    assert.equal(r.match(facts({ sni: 'c.example.com' }))?.id, 'wild');
    assert.equal(r.match(facts({ sni: 'other.org' }))?.id, 'plain');
    assert.equal(r.match(facts())?.id, 'plain');
    assert.equal(new StreamRouter([route('s', { sni: 'a.example.com' })]).match(facts()), undefined);
  });

  it('matches IPv4-mapped client addresses against IPv4 rules and IPv6 against IPv6 CIDRs', () => {
    const r = new StreamRouter([route('v4', { remote_addr: '127.0.0.0/8' }), route('v6', { remote_addr: 'fd00::/8' })]);
    assert.equal(r.match(facts({ remoteAddr: '::ffff:127.0.0.1' }))?.id, 'v4');
    assert.equal(r.match(facts({ remoteAddr: 'fd00::1' }))?.id, 'v6');
  });
});
