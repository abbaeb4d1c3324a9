import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { compileIpMatcher, isValidIpOrCidr } from './ip-matcher.js';

test('an exact IPv4 address matches only itself', () => {
  const m = compileIpMatcher(['192.168.1.10']);
  assert.equal(m('192.168.1.10'), true);
  assert.equal(m('192.168.1.11'), false);
  assert.equal(m('192.168.1.1'), false);
});

test('IPv4 CIDRs of every common length match their range and nothing else', () => {
  const m = compileIpMatcher(['10.0.0.0/8', '172.16.0.0/12', '192.168.3.0/24', '8.8.8.8/32']);
  assert.equal(m('10.255.255.255'), true);
  assert.equal(m('11.0.0.0'), false);
  assert.equal(m('172.31.0.1'), true);
  assert.equal(m('172.32.0.1'), false);
  assert.equal(m('192.168.3.200'), true);
  assert.equal(m('192.168.4.1'), false);
  assert.equal(m('8.8.8.8'), true);
  assert.equal(m('8.8.4.4'), false);
});

test('a CIDR written with host bits set is read as its network', () => {
  const m = compileIpMatcher(['10.1.2.3/8']);
  assert.equal(m('10.9.9.9'), true);
});

test('0.0.0.0/0 matches every IPv4 address but no native IPv6 address', () => {
  const m = compileIpMatcher(['0.0.0.0/0']);
  assert.equal(m('1.2.3.4'), true);
  assert.equal(m('255.255.255.255'), true);
  assert.equal(m('::ffff:1.2.3.4'), true);
  assert.equal(m('2001:db8::1'), false);
});

test('IPv6 addresses match whatever way they are written', () => {
  const m = compileIpMatcher(['::1', '2001:DB8::10']);
  assert.equal(m('::1'), true);
  assert.equal(m('0:0:0:0:0:0:0:1'), true);
  assert.equal(m('2001:db8:0:0:0:0:0:10'), true);
  assert.equal(m('2001:0db8::0010'), true);
  assert.equal(m('::2'), false);
});

test('IPv6 CIDRs match their range, including prefixes that cut a 32-bit word', () => {
  const m = compileIpMatcher(['2001:db8::/32', 'fe80::/10', '2001:abcd:12::/44']);
  assert.equal(m('2001:db8:ffff::1'), true);
  assert.equal(m('2001:db9::1'), false);
  assert.equal(m('febf::1'), true);
  assert.equal(m('fec0::1'), false);
  assert.equal(m('2001:abcd:1f:ffff::'), true);
  assert.equal(m('2001:abcd:20::'), false);
});

test('an IPv4-mapped IPv6 client matches an IPv4 rule', () => {
  const m = compileIpMatcher(['127.0.0.0/8']);
  assert.equal(m('::ffff:127.0.0.1'), true);
  assert.equal(m('::FFFF:127.0.0.1'), true);
  assert.equal(m('::ffff:7f00:1'), true);
  assert.equal(m('::ffff:128.0.0.1'), false);
  assert.equal(m('::127.0.0.1'), false);
});

test('an IPv4 client matches an IPv4-mapped IPv6 rule', () => {
  assert.equal(compileIpMatcher(['::ffff:127.0.0.1'])('127.0.0.1'), true);
  assert.equal(compileIpMatcher(['::ffff:10.0.0.0/104'])('10.20.30.40'), true);
  assert.equal(compileIpMatcher(['::ffff:10.0.0.0/104'])('11.0.0.1'), false);
});

test('a wide IPv6 rule that covers the mapped range also covers IPv4 clients', () => {
  assert.equal(compileIpMatcher(['::/0'])('1.2.3.4'), true);
  assert.equal(compileIpMatcher(['::/96'])('1.2.3.4'), false);
});

test('a zone id on the client address is ignored', () => {
  assert.equal(compileIpMatcher(['fe80::/10'])('fe80::1%eth0'), true);
});

test('malformed client addresses never match', () => {
  const m = compileIpMatcher(['0.0.0.0/0', '::/0']);
  for (const bad of ['', 'abc', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4 ', ':::', '1::2::3', '1:2', ':1', '1:', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', '::1.2.3']) {
    assert.equal(m(bad), false, bad);
  }
  assert.equal(m(undefined as unknown as string), false);
});

test('an empty list matches nothing', () => {
  const m = compileIpMatcher([]);
  assert.equal(m('127.0.0.1'), false);
  assert.equal(m('::1'), false);
});

test('a bad entry is refused with the entry named in the message', () => {
  for (const bad of ['300.1.1.1', '10.0.0.0/33', '::1/129', 'abc', '', '10.0.0.1/', '1.2.3.4/-1', '1.2.3.4/a', '01.2.3.4']) {
    assert.throws(() => compileIpMatcher(['127.0.0.1', bad]), { message: `invalid ip address: ${bad}` });
  }
});

test('isValidIpOrCidr accepts addresses and CIDRs of both families', () => {
  for (const ok of ['1.2.3.4', '0.0.0.0/0', '10.0.0.0/8', '::', '::1', '2001:db8::/32', '::ffff:1.2.3.4', 'fe80::1%eth0', '::/128']) {
    assert.equal(isValidIpOrCidr(ok), true, ok);
  }
  for (const bad of ['', 'localhost', '1.2.3.4/33', '::/129', '1.2.3.4/', '/8', '1.2.3.4/08x', '1.2.3.256']) {
    assert.equal(isValidIpOrCidr(bad), false, bad);
  }
});

test('matching agrees with node:net BlockList on generated addresses and ranges', () => {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const v4 = (): string => [rand(4), rand(256), rand(256), rand(256)].join('.');
  const v6 = (): string => `2001:db8:${rand(4).toString(16)}:${rand(65536).toString(16)}::${rand(65536).toString(16)}`;
  for (let round = 0; round < 50; round++) {
    const rules: string[] = [];
    const ref = new BlockList();
    for (let k = 0; k < 5; k++) {
      const p4 = rand(33);
      const a4 = v4();
      rules.push(`${a4}/${p4}`);
      ref.addSubnet(a4, p4, 'ipv4');
      const p6 = 32 + rand(97);
      const a6 = v6();
      rules.push(`${a6}/${p6}`);
      ref.addSubnet(a6, p6, 'ipv6');
    }
    const m = compileIpMatcher(rules);
    for (let k = 0; k < 200; k++) {
      const a = v4();
      assert.equal(m(a), ref.check(a, 'ipv4'), `${a} vs ${rules.join(',')}`);
      const b = v6();
      assert.equal(m(b), ref.check(b, 'ipv6'), `${b} vs ${rules.join(',')}`);
    }
  }
});
