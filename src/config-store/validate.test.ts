import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeCert } from '../../test/helpers/certs.js';
import type { ResourceKind } from '../contracts/resources.js';
import { isGatehouseError } from '../core/errors.js';
import { registerMatchTimeVariable } from '../core/expr/index.js';
import { ConfigState } from './state.js';
import {
  checkReferences, findReferenceProblems, parseAddr, validateResource, type PluginCheckWhere,
} from './validate.js';

const UP = { nodes: { '127.0.0.1:1980': 1 } };

function rejects(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isGatehouseError(e, 'GH_ERR_CONFIG_INVALID'), `expected GH_ERR_CONFIG_INVALID, got ${String(e)}`);
    if (typeof message === 'string') assert.equal((e as Error).message, message);
    else assert.match((e as Error).message, message);
    return true;
  });
}

describe('validateResource', () => {
  it('fills route defaults and lower-cases hosts without touching the input', () => {
    const input = { uri: '/a', hosts: ['Example.COM'], upstream: UP };
    const out = validateResource('routes', input);
    assert.equal(out.status, 1);
    assert.equal(out.priority, 0);
    assert.deepEqual(out.hosts, ['example.com']);
    assert.deepEqual(input.hosts, ['Example.COM']);
    assert.deepEqual(input.upstream.nodes, { '127.0.0.1:1980': 1 });
    assert.equal(validateResource('routes', { uri: '/a', host: 'A.b', upstream_id: 1 }).host, 'a.b');
  });

  it('refuses host with hosts and remote_addr with remote_addrs with APISIX messages', () => {
    rejects(() => validateResource('routes', { uri: '/', host: 'a', hosts: ['b'], upstream: UP }),
      'only one of host or hosts is allowed');
    rejects(() => validateResource('routes', { uri: '/', remote_addr: '1.1.1.1', remote_addrs: ['2.2.2.2'], upstream: UP }),
      'only one of remote_addr or remote_addrs is allowed');
  });

  it('requires exactly one of uri and uris', () => {
    rejects(() => validateResource('routes', { upstream: UP }),
      'invalid configuration: allOf 1 failed: value should match only one schema, but matches none');
    rejects(() => validateResource('routes', { uri: '/', uris: ['/b'], upstream: UP }),
      'invalid configuration: allOf 1 failed: value should match only one schema, but matches both schemas 1 and 2');
  });

  it('requires a route to have plugins, an upstream, an upstream_id or a service_id', () => {
    rejects(() => validateResource('routes', { uri: '/' }),
      'invalid configuration: object matches none of the required: ["plugins","uri"] or ["upstream","uri"] or '
      + '["upstream_id","uri"] or ["service_id","uri"] or ["plugins","uris"] or ["upstream","uris"] or '
      + '["upstream_id","uris"] or ["service_id","uris"]');
    assert.ok(validateResource('routes', { uris: ['/a'], plugins: {} }));
  });

  it('reports schema errors that name the field', () => {
    rejects(() => validateResource('routes', { uri: 1, upstream: UP }),
      'invalid configuration: property "uri" validation failed: wrong type: expected string, got number');
    rejects(() => validateResource('routes', { uri: '/', methods: ['FOO'], upstream: UP }),
      'invalid configuration: property "methods" validation failed: failed to validate item 1: matches none of the enum values');
    rejects(() => validateResource('routes', { uri: '/', upstream: UP, foo: 1 }),
      'invalid configuration: additional properties forbidden, found foo');
    rejects(() => validateResource('routes', { uri: '/', upstream: { nodes: [{ host: 'a', port: 80 }] } }),
      'invalid configuration: property "upstream.nodes" validation failed: failed to validate item 1: property "weight" is required');
    rejects(() => validateResource('consumers', {}), 'invalid configuration: property "username" is required');
    rejects(() => validateResource('routes', 'x'), 'invalid configuration: wrong type: expected object, got string');
  });

  it('accepts ids as short tokens or positive integers', () => {
    assert.equal(validateResource('upstreams', { id: 12, ...UP }).id, 12);
    assert.ok(validateResource('upstreams', { id: 'a-b_c.1', ...UP }));
    rejects(() => validateResource('upstreams', { id: 'a b', ...UP }),
      'invalid configuration: property "id" validation failed: failed to match pattern "^[a-zA-Z0-9-_.]+$" with "a b"');
    rejects(() => validateResource('upstreams', { id: 0, ...UP }),
      'invalid configuration: property "id" validation failed: expected 0 to be at least 1');
    rejects(() => validateResource('consumers', { username: 'a.b' }),
      'invalid configuration: property "username" validation failed: failed to match pattern "^[a-zA-Z0-9_\\\\-]+$" with "a.b"');
  });

  it('keeps the nodes map as a map and fills in the array form, IPv6 included', () => {
    const map = { '127.0.0.1:80': 1, '[::1]:8080': 2, 'example.com': 3, '::1': 4 };
    const out = validateResource('upstreams', { nodes: map, scheme: 'https' });
    assert.deepEqual(out.nodes, map);
    assert.equal(out.type, 'roundrobin');
    assert.equal(out.pass_host, 'pass');
    const arr = validateResource('upstreams', { nodes: [{ host: '::2', weight: 1 }] });
    assert.deepEqual(arr.nodes, [{ host: '[::2]', port: 80, weight: 1, priority: 0 }]);
  });

  it('splits addresses like APISIX parse_addr', () => {
    assert.deepEqual(parseAddr('a:1'), { host: 'a', port: '1' });
    assert.deepEqual(parseAddr('[::1]:2'), { host: '[::1]', port: '2' });
    assert.deepEqual(parseAddr('[::1]'), { host: '[::1]' });
    assert.deepEqual(parseAddr('fe80::1'), { host: 'fe80::1' });
  });

  it('applies the upstream cross-field rules', () => {
    rejects(() => validateResource('upstreams', { nodes: { 'a:70000': 1 } }), 'invalid port 70000');
    rejects(() => validateResource('upstreams', { ...UP, type: 'chash' }), 'missing key');
    assert.ok(validateResource('upstreams', { ...UP, type: 'chash', hash_on: 'consumer' }));
    rejects(() => validateResource('upstreams', { ...UP, type: 'chash', hash_on: 'header', key: 'a b' }),
      'invalid configuration: failed to match pattern "^[a-zA-Z0-9-_]+$" with "a b"');
    rejects(() => validateResource('upstreams', { ...UP, pass_host: 'rewrite' }),
      '`upstream_host` can\'t be empty when `pass_host` is `rewrite`');
    rejects(() => validateResource('upstreams', { ...UP, type: 'maglev' }),
      'invalid configuration: property "type" validation failed: matches none of the enum values');
  });

  it('fills health-check defaults only where checks are configured', () => {
    const out = validateResource('upstreams', { ...UP, checks: { active: { http_path: '/health' } } });
    const active = (out.checks as { active: Record<string, unknown> }).active;
    assert.equal(active.timeout, 1);
    assert.equal(active.type, 'http');
    assert.equal(active.healthy, undefined);
    rejects(() => validateResource('upstreams', { ...UP, checks: { passive: {} } }),
      'invalid configuration: property "checks" validation failed: object matches none of the required: ["active"] or ["active","passive"]');
  });

  it('passes vars to the expression hook and wraps its error', () => {
    const seen: unknown[] = [];
    const ok = validateResource('routes', { uri: '/', vars: [['arg_a', '==', '1']], upstream: UP },
      { checkExpr: (rule) => { seen.push(rule); } });
    assert.deepEqual(seen, [[['arg_a', '==', '1']]]);
    assert.ok(ok);
    rejects(() => validateResource('routes', { uri: '/', vars: [['a', 'bad', 1]], upstream: UP },
      { checkExpr: () => { throw new Error("invalid operator 'bad'"); } }),
    "failed to validate the 'vars' expression: invalid operator 'bad'");
  });

  it('refuses a route vars rule naming an unknown variable, or one that has no value when routes are matched', () => {
    assert.ok(validateResource('routes', { uri: '/', vars: [['http_x_channel', '==', 'beta'], ['post_arg.user.id', '==', 1]], upstream: UP }));
    rejects(() => validateResource('routes', { uri: '/', vars: [['http_x', '==', '1'], ['OR', ['arg_a', '==', '1'], ['remote_adr', '==', '1']]], upstream: UP }),
      "failed to validate the 'vars' expression: unknown variable 'remote_adr'");
    rejects(() => validateResource('routes', { uri: '/', vars: [['upstream_status', '==', 200]], upstream: UP }),
      "failed to validate the 'vars' expression: variable 'upstream_status' has no value yet when routes are matched");
  });

  it('refuses a chash vars_combinations key naming an unknown variable', () => {
    const chash = { ...UP, type: 'chash', hash_on: 'vars_combinations' };
    assert.ok(validateResource('upstreams', { ...chash, key: '$host$uri' }));
    rejects(() => validateResource('upstreams', { ...chash, key: '$host$urii' }), "invalid configuration: key: unknown variable '$urii'");
  });

  it('passes plugin sets to the plugin hook with where they live', () => {
    const calls: [string, PluginCheckWhere][] = [];
    const checkPlugins = (p: Record<string, unknown>, where: PluginCheckWhere): void => {
      calls.push([Object.keys(p).join(','), where]);
      if ('bad' in p) throw new Error('failed to check the configuration of plugin bad err: nope');
    };
    validateResource('routes', { id: 'r1', uri: '/', plugins: { a: {} } }, { checkPlugins });
    validateResource('consumers', { username: 'jack', plugins: { 'key-auth': { key: 'k' } } }, { checkPlugins });
    assert.deepEqual(calls, [
      ['a', { kind: 'routes', id: 'r1', schemaType: 'default' }],
      ['key-auth', { kind: 'consumers', id: 'jack', schemaType: 'consumer' }],
    ]);
    rejects(() => validateResource('global_rules', { id: 1, plugins: { bad: {} } }, { checkPlugins }),
      'failed to check the configuration of plugin bad err: nope');
    rejects(() => validateResource('consumers', { username: 'j', plugins: { bad: {} } }, { checkPlugins }),
      'invalid plugins configuration: failed to check the configuration of plugin bad err: nope');
  });

  it('checks plugin metadata through the metadata hook', () => {
    rejects(() => validateResource('plugin_metadata', { log_format: {} }), 'invalid configuration: property "id" is required');
    rejects(() => validateResource('plugin_metadata', { id: 'example-plugin' },
      { checkMetadata: () => { throw new Error('property "ikey" is required'); } }),
    'invalid configuration: property "ikey" is required');
  });

  it('limits a credential to one plugin', () => {
    rejects(() => validateResource('credentials', { plugins: { a: {}, b: {} } }),
      'invalid configuration: property "plugins" validation failed: expect object to have at most 1 properties');
  });

  it('parses ssl certificates and keys', () => {
    const { cert, key } = makeCert(['a.example.com']);
    const out = validateResource('ssls', { cert, key, snis: ['A.Example.com'] });
    assert.deepEqual(out.snis, ['a.example.com']);
    assert.equal(out.type, 'server');
    assert.equal(out.status, 1);
    rejects(() => validateResource('ssls', { cert: 'x'.repeat(200), key, sni: 'a.com' }),
      /^failed to parse cert: /);
    rejects(() => validateResource('ssls', { cert, key: 'k'.repeat(100), sni: 'a.com' }), /^failed to parse key: /);
    rejects(() => validateResource('ssls', { cert, key, sni: 'a.com', certs: [cert] }), 'mismatched number of certs and keys');
    rejects(() => validateResource('ssls', { cert, key }),
      'invalid configuration: value should match only one schema, but matches none');
    assert.ok(validateResource('ssls', { cert, key, type: 'client' }));
  });
});

describe('checkReferences', () => {
  const state = (objects: [ResourceKind, string, Record<string, unknown>][]): ConfigState => ConfigState.fromStoreState({
    revision: 1,
    objects: objects.map(([kind, id, value]) => ({ kind, id, value, createdIndex: 1, modifiedIndex: 1 })),
  });

  it('accepts a configuration whose references all exist', () => {
    const { cert, key } = makeCert(['client']);
    checkReferences(state([
      ['upstreams', 'u1', { nodes: [], tls: { client_cert_id: 's1' } }],
      ['ssls', 's1', { type: 'client', cert, key }],
      ['services', 's1', { upstream_id: 'u1' }],
      ['plugin_configs', 'p1', { plugins: {} }],
      ['routes', 'r1', { upstream_id: 'u1', service_id: 's1', plugin_config_id: 'p1' }],
      ['consumer_groups', 'g1', { plugins: {} }],
      ['consumers', 'jack', { username: 'jack', group_id: 'g1' }],
      ['credentials', 'jack/c1', { plugins: {} }],
    ]));
  });

  it('reports each kind of dangling reference with APISIX messages', () => {
    const problems = findReferenceProblems(state([
      ['routes', 'r1', { upstream_id: 99 }],
      ['routes', 'r2', { service_id: 9 }],
      ['routes', 'r3', { plugin_config_id: 'pc' }],
      ['services', 's1', { upstream_id: 'u' }],
      ['consumers', 'jack', { username: 'jack', group_id: 'g' }],
      ['credentials', 'ann/c1', { plugins: {} }],
      ['upstreams', 'u1', { tls: { client_cert_id: 'nope' } }],
      ['upstreams', 'u2', { tls: { client_cert_id: 'srv' } }],
      ['ssls', 'srv', { type: 'server' }],
    ]));
    assert.deepEqual(problems.map((p) => `${p.kind}/${p.id}: ${p.message}`), [
      'routes/r1: failed to fetch upstream info by upstream id [99], response code: 404',
      'routes/r2: failed to fetch service info by service id [9], response code: 404',
      'routes/r3: failed to fetch plugin config info by plugin config id [pc], response code: 404',
      'services/s1: failed to fetch upstream info by upstream id [u], response code: 404',
      'upstreams/u1: failed to fetch ssl info by ssl id [nope], response code: 404',
      'upstreams/u2: failed to fetch ssl info by ssl id [srv], wrong ssl type',
      'consumers/jack: failed to fetch consumer group info by consumer group id [g], response code: 404',
      'credentials/ann/c1: failed to fetch consumer info by username [ann], response code: 404',
    ]);
    rejects(() => checkReferences(state([['routes', 'r1', { upstream_id: 99 }]])),
      'routes "r1": failed to fetch upstream info by upstream id [99], response code: 404');
  });

  it('a route whose vars read a match-time variable needs the metadata that resolves it', () => {
    registerMatchTimeVariable('place_for_reference_test', 'place-plugin');
    const vars = [['uri', '==', '/x'], ['place_for_reference_test', '==', 'here']];
    assert.deepEqual(findReferenceProblems(state([['routes', 'r1', { uri: '/x', vars }]])).map((p) => p.message), [
      "failed to validate the 'vars' expression: variable 'place_for_reference_test' is resolved when routes are matched "
        + 'from plugin_metadata/place-plugin, which does not exist (create it first)',
    ]);
    checkReferences(state([['plugin_metadata', 'place-plugin', { id: 'place-plugin' }], ['routes', 'r1', { uri: '/x', vars }]]));
  });
});
