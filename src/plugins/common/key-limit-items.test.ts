import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientIp, compileRuleItem } from './key-limit-items.js';
import { keyQuota } from './key-limits.js';

test('clientIp: Go\'s canonical form (no port, IPv4-mapped as IPv4, IPv6 compressed lower-case), undefined when not an address', () => {
  assert.equal(clientIp('10.1.2.3'), '10.1.2.3');
  assert.equal(clientIp('10.1.2.3:8080'), '10.1.2.3');
  assert.equal(clientIp('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(clientIp('2001:DB8:0:0::1'), '2001:db8::1');
  assert.equal(clientIp('[2001:db8::1]:443'), '2001:db8::1');
  for (const bad of [undefined, '', 'nope', '10.0.0.0/8', '300.1.1.1']) assert.equal(clientIp(bad), undefined, String(bad));
});

test('keyQuota: the first unit set, in Higress\'s order; none names the field', () => {
  assert.deepEqual(keyQuota({ query_per_hour: 5, query_per_minute: 3 }, 'x'), { count: 3, windowSeconds: 60 });
  assert.deepEqual(keyQuota({ query_per_second: 0, query_per_day: 1 }, 'x'), { count: 1, windowSeconds: 86_400 });
  assert.throws(() => keyQuota({}, 'limit_keys[2]'), /^Error: limit_keys\[2\]: one of query_per_second/);
});

test('compileRuleItem: exactly one source; per kinds take "*" or "regexp:" (RE2) keys; the consumer source is x-mse-consumer', () => {
  assert.throws(() => compileRuleItem({ limit_keys: [] }, 'rule_items[0]'), /rule_items\[0\]: exactly one of/);
  assert.throws(() => compileRuleItem({ limit_by_per_param: 'k', limit_keys: [{ key: 'abc', query_per_second: 1 }] }, 'i'),
    /i\.limit_keys\[0\]\.key: the keys of limit_by_per_param are "\*" or start with "regexp:"/);
  assert.throws(() => compileRuleItem({ limit_by_per_param: 'k', limit_keys: [{ key: 'regexp:(?=x)', query_per_second: 1 }] }, 'i'),
    /i\.limit_keys\[0\]\.key/);
  assert.equal(compileRuleItem({ limit_by_consumer: 'anything', limit_keys: [{ key: 'jack', query_per_second: 1 }] }, 'i').source, 'x-mse-consumer');
  assert.equal(compileRuleItem({ limit_by_per_ip: 'from-remote-addr', limit_keys: [{ key: '0.0.0.0/0', query_per_second: 1 }] }, 'i').source, 'from-remote-addr');
});
