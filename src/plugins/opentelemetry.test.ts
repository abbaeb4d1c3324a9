import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PluginRegistry } from '../plugin-runtime/registry.js';
import { collectorUrl } from './opentelemetry.js';

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
