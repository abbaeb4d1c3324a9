import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRules, selectConfiguration } from './rules.js';

const facts = (o: Partial<{ routeName: string; host: string; cluster: string }>) => ({ routeName: o.routeName, host: o.host ?? 'h.test', cluster: o.cluster });
const pick = (conf: Record<string, unknown>, f: Parameters<typeof facts>[0]): string | undefined =>
  selectConfiguration(compileRules(conf), facts(f))?.toString();

test('no _rules_: the whole configuration, {} when empty', () => {
  assert.equal(pick({}, {}), '{}');
  assert.equal(pick({ a: 1 }, {}), '{"a":1}');
});

test('first matching rule wins, its own keys are the configuration (match keys removed)', () => {
  const conf = { g: 1, _rules_: [{ _match_route_: ['r1'], v: 'route' }, { _match_domain_: ['*.example.com', 'exact.test'], v: 'domain' }] };
  assert.equal(pick(conf, { routeName: 'r1', host: 'a.example.com' }), '{"v":"route"}');
  assert.equal(pick(conf, { routeName: 'r2', host: 'a.example.com' }), '{"v":"domain"}');
  assert.equal(pick(conf, { host: 'exact.test' }), '{"v":"domain"}');
  assert.equal(pick(conf, { host: 'example.com' }), '{"g":1}', 'no match: the global keys');
  assert.equal(pick({ _rules_: [{ _match_route_: ['r1'], v: 1 }] }, { routeName: 'r2' }), undefined, 'no global keys: sits out');
});

test('_match_route_prefix_, domain prefix patterns, _match_service_ against outbound|port||fqdn', () => {
  assert.equal(pick({ _rules_: [{ _match_route_prefix_: ['ai-'], v: 1 }] }, { routeName: 'ai-chat' }), '{"v":1}');
  assert.equal(pick({ _rules_: [{ _match_domain_: ['api.*'], v: 1 }] }, { host: 'api.test' }), '{"v":1}');
  const svc = { _rules_: [{ _match_service_: ['users:8080'], v: 'port' }, { _match_service_: ['orders'], v: 'any' }] };
  assert.equal(pick(svc, { cluster: 'outbound|8080||users' }), '{"v":"port"}');
  assert.equal(pick(svc, { cluster: 'outbound|9090||users' }), undefined);
  assert.equal(pick(svc, { cluster: 'outbound|1||orders' }), '{"v":"any"}');
  assert.equal(pick(svc, { cluster: 'orders' }), undefined, 'not the 4-part form: no match');
});

test('malformed rules are refused naming the field', () => {
  assert.throws(() => compileRules({ _rules_: {} }), /_rules_ must be an array/);
  assert.throws(() => compileRules({ _rules_: [{ v: 1 }] }), /_rules_\[0\] has none of _match_route_/);
  assert.throws(() => compileRules({ _rules_: [{ _match_route_: 'r1' }] }), /_rules_\[0\]\._match_route_ must be a non-empty array/);
  assert.throws(() => compileRules({ _rules_: [{ _match_domain_: [''] }] }), /_rules_\[0\]\._match_domain_/);
});
