import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PluginRegistry } from './registry.js';
import { compileChain, PrepareCache, type InstanceSource } from './chain.js';
import { RequestTrace } from '../observability/tracing/request-trace.js';

// With the node config's `tracing`, only requests through a chain holding a plugin that
// shows handler calls (opentelemetry) record them; a request it does not sample stops.

const registry = await PluginRegistry.load({ whitelist: ['opentelemetry', 'cors', 'zipkin'] });

function chainOf(names: string[]) {
  const sources: InstanceSource[] = names.map((name) => ({
    name, origin: 'route', originId: 'r',
    conf: name === 'zipkin' ? { endpoint: 'http://127.0.0.1:9411/api/v2/spans', sample_ratio: 1 } : {},
  }));
  const skipped: string[] = [];
  const chain = compileChain(sources, registry, new PrepareCache(), () => ({ metadata: undefined, consumers: [] }), (name) => skipped.push(name));
  assert.deepEqual(skipped, []);
  return chain;
}

test('a chain records handler calls only when one of its plugins shows them', () => {
  assert.equal(chainOf(['cors', 'opentelemetry']).recordsHandlerCalls, true);
  assert.equal(chainOf(['cors']).recordsHandlerCalls, false);
  assert.equal(chainOf(['zipkin']).recordsHandlerCalls, false);
});

test('a record stops keeping handler calls when told no plugin will show them', () => {
  const t = new RequestTrace(true);
  t.handlerCall('rewrite', 'cors', 1, 2);
  assert.equal(t.handlerCalls?.length, 1);
  t.stopHandlerCalls();
  assert.equal(t.recordsCalls, false);
  t.handlerCall('access', 'cors', 2, 3);
  assert.equal(t.handlerCalls, undefined);
});
