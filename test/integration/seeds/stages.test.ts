import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PluginRegistry } from '../../../src/plugin-runtime/registry.js';

// Seed 000's whole table (each row's stage, priority and order) is seed-000-order.test.ts.

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
