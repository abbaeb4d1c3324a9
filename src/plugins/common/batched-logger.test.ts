import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineBatchedLogger, type LogRecord } from './batched-logger.js';
import { LOGGER_COMMON_PROPERTIES } from './log-util.js';
import { BATCH_PROCESSOR_PROPERTIES } from './batch-processor.js';
import { metricsRegistry } from '../../observability/metrics.js';
import type { StreamSession } from '../../contracts/plugin.js';
import { createTestContext, prepareWith } from '../../../test/helpers/plugin-context.js';

// The shared part of the batched loggers: what a sink declares is all it takes to get
// batches of entries (lazily built), the drop counter, and a drain then close on unload.

interface FakeConf { target: string; batch_max_size?: number; log_format?: Record<string, unknown> }

function fakeLogger(name: string, got: LogRecord[][], opts: { fail?: boolean; closed?: string[] } = {}) {
  return defineBatchedLogger<FakeConf, { target: string; send(e: LogRecord[]): Promise<void> }>({
    name,
    version: 0.1,
    priority: 1,
    schema: {
      type: 'object',
      properties: { target: { type: 'string' }, ...LOGGER_COMMON_PROPERTIES, ...BATCH_PROCESSOR_PROPERTIES },
      required: ['target'],
      additionalProperties: false,
    },
    processorName: `${name} processor`,
    sink(conf) {
      if (conf.target === 'bad') throw new Error('target: "bad" is refused');
      return {
        target: conf.target,
        send: async (entries) => {
          if (opts.fail === true) throw new Error('collector down');
          got.push(entries);
        },
      };
    },
    streamEntry: (_p, session) => ({ route: session.routeId, remote: session.remoteAddr }),
    close: () => { opts.closed?.push(name); },
  });
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not met in time');
}

async function droppedCount(plugin: string, reason: string): Promise<number> {
  const m = (await metricsRegistry.getSingleMetric('gatehouse_logger_dropped_total')!.get()).values;
  return m.find((v) => v.labels.plugin === plugin && v.labels.reason === reason)?.value ?? 0;
}

test('prepare makes the sink and opens nothing; a refused setting refuses the config', () => {
  const plugin = fakeLogger('fake-a', []);
  const p = prepareWith(plugin, { target: 'x' });
  assert.equal(p.sink.target, 'x');
  assert.equal(p.processor, undefined);
  assert.throws(() => prepareWith(plugin, { target: 'bad' }), /target: "bad" is refused/);
  assert.equal(plugin.stage, 'statistics');
  assert.ok(plugin.stream?.log !== undefined, 'streamEntry makes it a stream plugin');
});

test('entries (log_format) reach send in batches; destroy drains them, then closes', async () => {
  const got: LogRecord[][] = [];
  const closed: string[] = [];
  const plugin = fakeLogger('fake-b', got, { closed });
  const p = prepareWith(plugin, { target: 'x', batch_max_size: 2, log_format: { u: '$uri' } });
  for (const uri of ['/1', '/2', '/3']) plugin.log!(p, createTestContext({ uri }));
  await until(() => got.length === 1);
  assert.deepEqual(got, [[{ u: '/1' }, { u: '/2' }]]);
  await plugin.destroy!();
  assert.deepEqual(got, [[{ u: '/1' }, { u: '/2' }], [{ u: '/3' }]], 'the partial batch is sent on unload');
  assert.deepEqual(closed, ['fake-b']);
});

test('a stream session logs the streamEntry', async () => {
  const got: LogRecord[][] = [];
  const plugin = fakeLogger('fake-c', got);
  const p = prepareWith(plugin, { target: 'x', batch_max_size: 1 });
  const session = { routeId: 's1', remoteAddr: '10.0.0.1' } as unknown as StreamSession;
  plugin.stream!.log!(p, session);
  await until(() => got.length === 1);
  assert.deepEqual(got, [[{ route: 's1', remote: '10.0.0.1' }]]);
});

test('a failing sink never throws into the request; given-up entries are counted per plugin', async () => {
  const plugin = fakeLogger('fake-d', [], { fail: true });
  const p = prepareWith(plugin, { target: 'x', batch_max_size: 1 });
  const before = await droppedCount('fake-d', 'send_failed');
  assert.doesNotThrow(() => plugin.log!(p, createTestContext({ uri: '/x' })));
  await until(() => p.processor!.failed === 1);
  assert.equal(await droppedCount('fake-d', 'send_failed'), before + 1);
  await plugin.destroy!();
});

test('the default entry is APISIX\'s shape when there is no log_format', async () => {
  const got: LogRecord[][] = [];
  const plugin = fakeLogger('fake-e', got);
  const p = prepareWith(plugin, { target: 'x', batch_max_size: 1 });
  plugin.log!(p, createTestContext({ uri: '/d?k=v', routeId: 'r1' }));
  await until(() => got.length === 1);
  const entry = got[0]![0]! as { route_id: string; request: { uri: string; method: string } };
  assert.equal(entry.route_id, 'r1');
  assert.equal(entry.request.uri, '/d?k=v');
  assert.equal(entry.request.method, 'GET');
});
