import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Gateway } from '../../helpers/gateway.js';
import { eventually } from '../../helpers/gateway.js';
import { startWithAdminRoute } from '../../helpers/admin-route.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { routeTo, type AdminCall } from '../admin/client.js';
import { logEntry, metricValue } from '../../helpers/observe.js';
import { percentageBucket } from '../../../src/plugins/traffic-tag.js';

let gw: Gateway;
let up: TestUpstream;
let gray: TestUpstream;
let call: AdminCall;

const tagging = {
  defaultTagKey: 'x-mse-tag', defaultTagVal: 'base',
  conditionGroups: [
    {
      headerName: 'x-mse-tag', headerValue: 'gray', logic: 'and',
      conditions: [
        { conditionType: 'cookie', key: 'role', operator: 'in', value: ['tester', 'staff'] },
        { conditionType: 'parameter', key: 'v', operator: 'prefix', value: ['2.'] },
      ],
    },
    {
      headerName: 'x-mse-tag', headerValue: 'blue', logic: 'or',
      conditions: [
        { conditionType: 'header', key: 'x-region', operator: 'regex', value: ['^eu-(west|north)$'] },
        { conditionType: 'header', key: 'x-plan', operator: 'equal', value: ['pro'] },
      ],
    },
  ],
};

const pick = (e: Record<string, unknown>): Record<string, unknown> => ({ uri: e.uri, tag: e.tag, source: e.source });

/** The tag header the upstream received, and which upstream answered. */
async function tagged(path: string, headers: Record<string, string> = {}): Promise<{ tag: string | undefined; upstream: string }> {
  const r = await get(gw.url + path, { headers });
  assert.equal(r.status, 200, r.body);
  const body = r.json();
  return { tag: body.headers['x-mse-tag'], upstream: body.upstream };
}

before(async () => {
  gray = await startUpstream('gray');
  ({ gw, up, call } = await startWithAdminRoute('tt', '/tt/*', {
    prometheus: {},
    'file-logger': { path: 'tt.log', log_format: { uri: '$request_uri', tag: '$traffic_tag', source: '$traffic_tag_source' } },
    'traffic-tag': tagging,
  }, { path: '/tt/probe' }));
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await gray?.close();
});

test('condition groups: the first that matches tags the request; and needs every condition, or one', async () => {
  assert.equal((await tagged('/tt/x?v=2.1', { cookie: 'a=1; role=tester' })).tag, 'gray');
  assert.equal((await tagged('/tt/x?v=1.9', { cookie: 'role=tester' })).tag, 'base', 'and: one condition fails');
  assert.equal((await tagged('/tt/x?v=2.1')).tag, 'base', 'and: a missing cookie fails the group');
  assert.equal((await tagged('/tt/x', { 'x-region': 'eu-west' })).tag, 'blue');
  assert.equal((await tagged('/tt/x', { 'x-plan': 'pro' })).tag, 'blue', 'or: one condition is enough');
  assert.equal((await tagged('/tt/x', { 'x-region': 'us-east' })).tag, 'base');
});

test('a tag header the client already sent is kept, as Higress', async () => {
  assert.equal((await tagged('/tt/x', { 'x-mse-tag': 'mine', 'x-plan': 'pro' })).tag, 'mine');
});

test('percentage is sticky per value: SHA-256 of the value, first 8 bytes, mod 100', async () => {
  const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
  await call('PUT', '/routes/ttp', {
    ...routeTo('/ttp/*', up.port),
    plugins: {
      'traffic-tag': {
        conditionGroups: [{
          headerName: 'x-mse-tag', headerValue: 'gray', logic: 'and',
          conditions: [{ conditionType: 'header', key: 'x-user', operator: 'percentage', value: ['30'] }],
        }],
      },
    },
  });
  await eventually(async () => (await get(gw.url + '/ttp/x')).status === 200);
  let grayCount = 0;
  for (const u of users) {
    const expected = percentageBucket(u) < 30 ? 'gray' : undefined;
    if (expected !== undefined) grayCount++;
    assert.equal((await tagged('/ttp/x', { 'x-user': u })).tag, expected, u);
    assert.equal((await tagged('/ttp/x', { 'x-user': u })).tag, expected, `${u} again`);
  }
  assert.ok(grayCount > 0 && grayCount < users.length, `some but not all tagged (${grayCount})`);
  // the bucket from a known digest: sha256("abc") starts with ba7816bf8f01cfea
  assert.equal(percentageBucket('abc'), Number(BigInt('0xba7816bf8f01cfea') % 100n));
});

test('weightGroups split the untagged requests; the remainder gets the default', async () => {
  await call('PUT', '/routes/ttw', {
    ...routeTo('/ttw/*', up.port),
    plugins: {
      'traffic-tag': {
        weightGroups: [{ headerName: 'x-mse-tag', headerValue: 'w30', weight: 30 }, { headerName: 'x-mse-tag', headerValue: 'w20', weight: 20 }],
        defaultTagKey: 'x-mse-tag', defaultTagVal: 'rest',
      },
    },
  });
  await eventually(async () => (await get(gw.url + '/ttw/x')).status === 200);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 400; i++) {
    const { tag } = await tagged('/ttw/x');
    counts[tag!] = (counts[tag!] ?? 0) + 1;
  }
  assert.deepEqual(Object.keys(counts).sort(), ['rest', 'w20', 'w30']);
  // binomial bounds far outside chance (p < 1e-6)
  assert.ok(counts.w30! > 70 && counts.w30! < 170, JSON.stringify(counts));
  assert.ok(counts.w20! > 40 && counts.w20! < 125, JSON.stringify(counts));
});

test('canary-header routes on the tag traffic-tag added (traffic-tag runs first: default 400 before 100)', async () => {
  await call('PUT', '/routes/ttc', {
    ...routeTo('/ttc/*', up.port),
    plugins: {
      'traffic-tag': tagging,
      'canary-header': { header: 'x-mse-tag', regex: '^(gray|blue)$', upstream: { nodes: { [`127.0.0.1:${gray.port}`]: 1 } } },
    },
  });
  await eventually(async () => (await get(gw.url + '/ttc/x')).status === 200);
  assert.deepEqual(await tagged('/ttc/x?v=2.0', { cookie: 'role=staff' }), { tag: 'gray', upstream: 'gray' });
  assert.deepEqual(await tagged('/ttc/x', { 'x-plan': 'pro' }), { tag: 'blue', upstream: 'gray' });
  assert.deepEqual(await tagged('/ttc/x'), { tag: 'base', upstream: 'a' });
});

test('the access log names the tag and how it was chosen; tagged requests are counted by route', async () => {
  const before = await metricValue(gw, 'gatehouse_traffic_tag_tagged_total{route="tt"}');
  await tagged('/tt/log1', { 'x-plan': 'pro' });
  await tagged('/tt/log2');
  await tagged('/tt/log3', { 'x-mse-tag': 'mine' });
  const log = join(gw.dir, 'data', 'logs', 'tt.log');
  assert.deepEqual(pick(await logEntry(log, 'uri', '/tt/log1')), { uri: '/tt/log1', tag: 'x-mse-tag:blue', source: 'condition' });
  assert.deepEqual(pick(await logEntry(log, 'uri', '/tt/log2')), { uri: '/tt/log2', tag: 'x-mse-tag:base', source: 'default' });
  assert.deepEqual(pick(await logEntry(log, 'uri', '/tt/log3')), { uri: '/tt/log3', tag: 'x-mse-tag:mine', source: 'kept' });
  assert.equal(await metricValue(gw, 'gatehouse_traffic_tag_tagged_total{route="tt"}'), before + 2);
});

test('bad config is refused with a 400 naming the field', async () => {
  const cond = { conditionType: 'header', key: 'k', operator: 'equal', value: ['v'] };
  const group = { headerName: 'x-tag', headerValue: 'g', logic: 'and', conditions: [cond] };
  for (const [conf, field] of [
    [{ conditionGroups: [{ ...group, logic: 'xor' }] }, 'logic'],
    [{ conditionGroups: [{ ...group, conditions: [{ ...cond, operator: 'suffix' }] }] }, 'operator'],
    [{ conditionGroups: [{ ...group, conditions: [{ ...cond, conditionType: 'body' }] }] }, 'conditionType'],
    [{ conditionGroups: [{ ...group, conditions: [{ ...cond, value: [] }] }] }, 'value'],
    [{ conditionGroups: [{ ...group, conditions: [{ ...cond, operator: 'regex', value: ['('] }] }] }, 'conditionGroups\\[0\\]\\.conditions\\[0\\]\\.value'],
    [{ conditionGroups: [{ ...group, conditions: [{ ...cond, operator: 'percentage', value: ['101'] }] }] }, 'conditionGroups\\[0\\]\\.conditions\\[0\\]\\.value'],
    [{ conditionGroups: [{ ...group, headerName: undefined }] }, 'headerName'],
    [{ weightGroups: [{ headerName: 'x', headerValue: 'a', weight: 60 }, { headerName: 'x', headerValue: 'b', weight: 50 }] }, 'weightGroups'],
    [{ weightGroups: [{ headerName: 'x', headerValue: 'a', weight: 101 }] }, 'weight'],
    [{ defaultTagKey: 'x' }, 'defaultTagVal'],
    [{ defaultTagKey: 'x', defaultTagVal: '' }, 'defaultTagVal'],
    [{ tags: [] }, 'tags'],
  ] as const) {
    const r = await call('PUT', '/routes/bad', { ...routeTo('/bad', up.port), plugins: { 'traffic-tag': conf } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, new RegExp(field), `${JSON.stringify(conf)}: ${r.body.error_msg}`);
  }
});
