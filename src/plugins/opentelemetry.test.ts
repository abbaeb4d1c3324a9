import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PluginRegistry } from '../plugin-runtime/registry.js';
import type { PluginContext } from '../contracts/plugin.js';
import { collectorUrl, exportSettingsOf, requestIdTraceId } from './opentelemetry.js';

// What the Admin API refuses of opentelemetry and zipkin configs and metadata, naming the field.

const registry = PluginRegistry.load({ whitelist: ['opentelemetry', 'zipkin'] });

async function refusal(check: (r: PluginRegistry) => void): Promise<string | undefined> {
  try {
    check(await registry);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

test('collector.address: host:port is http, a URL keeps its path unless it has none', () => {
  assert.equal(collectorUrl('127.0.0.1:4318'), 'http://127.0.0.1:4318/v1/traces');
  assert.equal(collectorUrl('https://otel.example:4318'), 'https://otel.example:4318/v1/traces');
  assert.equal(collectorUrl('http://otel.example:4318/custom/path'), 'http://otel.example:4318/custom/path');
  assert.throws(() => collectorUrl('ftp://otel.example'), /collector.address: scheme "ftp" is not supported/);
});

test('metadata: an unusable address, a queue not larger than a batch and unknown fields are refused by name', async () => {
  assert.equal(await refusal((r) => r.checkMetadata('opentelemetry', { collector: { address: 'otel:4318' }, resource: { 'service.name': 'x', n: 1, b: true } })), undefined);
  assert.match(String(await refusal((r) => r.checkMetadata('opentelemetry', { collector: { address: 'ftp://x' } }))), /collector\.address/);
  assert.match(String(await refusal((r) => r.checkMetadata('opentelemetry', { collector: { address: 'http://[bad' } }))), /collector\.address/);
  assert.match(String(await refusal((r) => r.checkMetadata('opentelemetry', { batch_span_processor: { max_queue_size: 100, max_export_batch_size: 100 } }))),
    /batch_span_processor\.max_queue_size \(100\) must be larger than batch_span_processor\.max_export_batch_size \(100\)/);
  assert.match(String(await refusal((r) => r.checkMetadata('opentelemetry', { batch_span_processor: { max_queue_size: 10 } }))), /max_queue_size \(10\)/);
  assert.match(String(await refusal((r) => r.checkMetadata('opentelemetry', { colector: {} }))), /additional properties forbidden, found colector/);
  assert.match(String(await refusal((r) => r.checkMetadata('opentelemetry', { batch_span_processor: { batch_timeout: 0 } }))), /batch_timeout/);
  assert.match(String(await refusal((r) => r.checkMetadata('opentelemetry', { collector: { request_headers: { 'x-a': 'b\r\nc' } } }))), /request_headers/);
  assert.match(String(await refusal((r) => r.checkMetadata('zipkin', { set_ngx_var: 'yes' }))), /set_ngx_var/);
});

test('route config: samplers, variables in additional_attributes, zipkin\'s endpoint and ratio', async () => {
  assert.equal(await refusal((r) => r.checkInstance('opentelemetry', { sampler: { name: 'parent_base', options: { root: { name: 'trace_id_ratio', options: { fraction: 0.5 } } } } })), undefined);
  assert.match(String(await refusal((r) => r.checkInstance('opentelemetry', { sampler: { name: 'sometimes' } }))), /sampler/);
  assert.match(String(await refusal((r) => r.checkInstance('opentelemetry', { sampler: { name: 'trace_id_ratio', options: { fraction: 2 } } }))), /fraction/);
  assert.match(String(await refusal((r) => r.checkInstance('opentelemetry', { additional_attributes: ['consumer_nam'] }))), /additional_attributes: unknown variable '\$consumer_nam'/);
  assert.equal(await refusal((r) => r.checkInstance('zipkin', { endpoint: 'http://zipkin:9411/api/v2/spans', sample_ratio: 0.2 })), undefined);
  assert.match(String(await refusal((r) => r.checkInstance('zipkin', { endpoint: 'zipkin:9411', sample_ratio: 0.2 }))), /endpoint/);
  assert.match(String(await refusal((r) => r.checkInstance('zipkin', { endpoint: 'http://[bad', sample_ratio: 0.2 }))), /endpoint: not a URL/);
  assert.match(String(await refusal((r) => r.checkInstance('zipkin', { endpoint: 'http://z/', sample_ratio: 0 }))), /sample_ratio/);
  assert.match(String(await refusal((r) => r.checkInstance('zipkin', { endpoint: 'http://z/', sample_ratio: 1, span_version: 3 }))), /span_version/);
});

test('metadata: each collector and batch_span_processor field reaches the exporter (seconds to ms), with APISIX defaults', () => {
  assert.deepEqual(exportSettingsOf({
    collector: { address: 'https://otel.example:4318', request_timeout: 7, request_headers: { 'X-Token': 'abc', 'X-N': 2 } },
    batch_span_processor: { drop_on_queue_full: false, max_queue_size: 300, batch_timeout: 0.2, inactive_timeout: 0.05, max_export_batch_size: 30 },
  }), {
    url: 'https://otel.example:4318/v1/traces',
    headers: { 'x-token': 'abc', 'x-n': '2' },
    timeoutMs: 7000,
    batching: { maxQueueSize: 300, maxExportBatchSize: 30, batchTimeoutMs: 200, inactiveTimeoutMs: 50, dropOnQueueFull: false, maxRetryCount: 2, retryDelayMs: 1000 },
  });
  assert.deepEqual(exportSettingsOf({}), {
    url: 'http://127.0.0.1:4318/v1/traces',
    headers: {},
    timeoutMs: 3000,
    batching: { maxQueueSize: 2048, maxExportBatchSize: 256, batchTimeoutMs: 5000, inactiveTimeoutMs: 2000, dropOnQueueFull: true, maxRetryCount: 2, retryDelayMs: 1000 },
  });
});

test('trace_id_source x-request-id: the header when it is a trace id, else $request_id when there is no header, else a random id', () => {
  const requestId = '0af7651916cd43dd8448eb211c80319c';
  const ctx = (header: string | undefined): Pick<PluginContext, 'request' | 'var'> => ({
    request: { header: (name: string) => (name === 'x-request-id' ? header : undefined) },
    var: (name: string) => (name === 'request_id' ? requestId : undefined),
  }) as unknown as Pick<PluginContext, 'request' | 'var'>;
  assert.equal(requestIdTraceId(ctx(undefined)), requestId);
  assert.equal(requestIdTraceId(ctx('4BF92F3577B34DA6A3CE929D0E0E4736')), '4bf92f3577b34da6a3ce929d0e0e4736');
  const fromUuid = requestIdTraceId(ctx('123e4567-e89b-12d3-a456-426614174000'));
  assert.match(fromUuid, /^[0-9a-f]{32}$/);
  assert.notEqual(fromUuid, requestId);
});
