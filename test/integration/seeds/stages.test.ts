import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PluginRegistry } from '../../../src/plugin-runtime/registry.js';

// Seed 000's table: the built-ins it lists take exactly its execution stage and priority.
const SEED_000: [string, string, number][] = [
  ['real-ip', 'authorization', 980], // http-real-ip
  ['oauth', 'authorization', 350],
  ['jwt-auth', 'authorization', 340],
  ['hmac-auth', 'authorization', 330],
  ['basic-auth', 'authorization', 320],
  ['key-auth', 'authorization', 310],
  ['forward-auth', 'authorization', 300], // External authentication
  ['opa', 'authorization', 225],
  ['request-validation', 'authorization', 220],
  ['ip-restriction', 'authorization', 210], // IP address block
  ['jwt-logout', 'authorization', 50], // JWT Logout
  ['cors', 'authentication', 340],
  ['waf', 'authentication', 330],
  ['request-block', 'authentication', 320],
  ['bot-detect', 'authentication', 310],
  // the policies, after every plugin: Sentinel filter (circuit breaking)
  ['api-breaker', 'default', -1000],
  // Router filter (traffic replication)
  ['proxy-mirror', 'default', -2000],
];

test('built-ins listed in seed 000 take its stage and priority', async () => {
  const reg = await PluginRegistry.load();
  for (const [name, stage, priority] of SEED_000) {
    const p = reg.get(name)?.plugin;
    assert.ok(p, `${name} is installed`);
    assert.equal(p.stage, stage, name);
    assert.equal(p.priority, priority, name);
  }
});

test('the installed order puts every authorization plugin before every authentication plugin, then statistics, then default', async () => {
  const reg = await PluginRegistry.load();
  const stages = reg.list().map((l) => l.plugin.stage);
  const rank = { authorization: 0, authentication: 1, statistics: 2, default: 3 } as const;
  for (let i = 1; i < stages.length; i++) assert.ok(rank[stages[i - 1]!] <= rank[stages[i]!]);
  const names = reg.list().map((l) => l.plugin.name);
  assert.ok(names.indexOf('key-auth') < names.indexOf('cors'), 'seed 000: key-auth (Authorization) before CORS (Authentication)');
});

test('seed 000: the Sentinel filter policy (api-breaker) runs after every plugin', async () => {
  const names = (await PluginRegistry.load()).list().map((l) => l.plugin.name);
  const breaker = names.indexOf('api-breaker');
  // Only seed policies listed after the Sentinel filter (the Router filter's) may follow it.
  const routerFilter = new Set(['proxy-mirror']);
  for (const name of names.slice(breaker + 1)) assert.ok(routerFilter.has(name), `${name} runs after api-breaker`);
});

test('openid-connect (beyond the seed) keeps APISIX\'s order: before every other authentication plugin', async () => {
  const names = (await PluginRegistry.load()).list().map((l) => l.plugin.name);
  for (const auth of ['jwt-auth', 'hmac-auth', 'basic-auth', 'key-auth', 'forward-auth', 'opa']) {
    assert.ok(names.indexOf('openid-connect') < names.indexOf(auth), `openid-connect before ${auth}`);
  }
  assert.ok(names.indexOf('fault-injection') < names.indexOf('openid-connect'), 'fault-injection (APISIX 11000) first');
});
