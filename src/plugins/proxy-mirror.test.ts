import { test } from 'node:test';
import assert from 'node:assert/strict';
import pm, { MAX_MIRRORS_IN_FLIGHT, mirrorRequests, mirrorStats } from './proxy-mirror.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

test('schema: APISIX fields, defaults and bounds', () => {
  assert.match(schemaError(pm.schema, {})!, /property "host" is required/);
  assert.match(schemaError(pm.schema, { host: 'http://a/b' })!, /property "host" validation failed/);
  assert.match(schemaError(pm.schema, { host: 'http://a', path: '/a?b' })!, /property "path" validation failed/);
  assert.match(schemaError(pm.schema, { host: 'http://a', sample_ratio: 0.000001 })!, /property "sample_ratio" validation failed/);
  assert.equal(schemaError(pm.schema, { host: 'https://[::1]:8443', path: '/m', path_concat_mode: 'prefix' }), undefined);
  const p = prepareWith(pm, { host: 'http://127.0.0.1:9' });
  assert.equal(p.sampleRatio, 1);
  assert.equal(p.prefix, false);
});

test('past the in-flight bound a copy is dropped and counted, not queued', async () => {
  const p = prepareWith(pm, { host: 'http://127.0.0.1:1' });
  const before = mirrorStats.inFlight;
  const dropped = mirrorRequests().labels('', 'dropped');
  const sent = mirrorRequests().labels('', 'sent');
  const counts = [dropped.value, sent.value];
  mirrorStats.inFlight = MAX_MIRRORS_IN_FLIGHT;
  try {
    assert.equal(await pm.access!(p, createTestContext({ uri: '/x' })), undefined);
    assert.equal(dropped.value, counts[0]! + 1);
    assert.equal(sent.value, counts[1]);
    assert.equal(mirrorStats.inFlight, MAX_MIRRORS_IN_FLIGHT);
  } finally {
    mirrorStats.inFlight = before;
  }
});
