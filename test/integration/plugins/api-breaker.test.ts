import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { startGateway, startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { logEntry, metricValue } from '../../helpers/observe.js';

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      {
        id: 'ab', uri: '/ab', upstream, plugins: {
          'api-breaker': {
            break_response_code: 503,
            break_response_body: '{"error":"upstream broken"}',
            break_response_headers: [{ key: 'Content-Type', value: 'application/json' }, { key: 'X-Broken-Uri', value: '$uri' }],
            unhealthy: { http_statuses: [500], failures: 2 },
            healthy: { successes: 1 },
          },
        },
      },
      { id: 'dead', uri: '/dead', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { 'api-breaker': { break_response_code: 599, unhealthy: { http_statuses: [502], failures: 1 } } } },
      {
        id: 'gated', uri: '/gated', upstream, plugins: {
          'fault-injection': { abort: { http_status: 503, vars: [[['http_x_fault', '==', 'yes']]] } },
          'api-breaker': { break_response_code: 599, unhealthy: { http_statuses: [503], failures: 1 } },
        },
      },
      {
        id: 'observed', uri: '/observed', upstream, plugins: {
          'api-breaker': { break_response_code: 599, unhealthy: { http_statuses: [500], failures: 1 }, healthy: { successes: 2 } },
          'file-logger': { path: 'ab.log', log_format: { uri: '$request_uri', status: '$status', breaker: '$api_breaker_state' } },
        },
      },
    ],
  }), { extra: { log_dir: '.' } }));
});

after(() => stopWithUpstream(gw, up));

/** Requests `path` until it answers `status` (bounded); returns how long that took. */
async function until(path: string, status: number, limitMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const r = await get(gw.url + path);
    if (r.status === status) return Date.now() - start;
    assert.ok(Date.now() - start < limitMs, `${path} still answers ${r.status} after ${limitMs} ms`);
    await sleep(100);
  }
}

test('failures open the breaker with the configured answer, for 2 s, then 4 s; a success closes it', async () => {
  up.failWith = 500;
  const from = gw.output().length;
  try {
    assert.equal((await get(gw.url + '/ab')).status, 500);
    assert.equal((await get(gw.url + '/ab')).status, 500);
    const seen = up.seen.length;
    const broken = await get(gw.url + '/ab');
    assert.equal(broken.status, 503);
    assert.deepEqual(broken.json(), { error: 'upstream broken' });
    assert.equal(broken.headers['x-broken-uri'], '/ab');
    assert.equal(up.seen.length, seen, 'the upstream is spared while the breaker is open');
    await gw.waitForOutput(/api-breaker: 2 unhealthy upstream responses for \/ab, breaking for 2s/, from);
    await gw.waitForOutput(/api-breaker exits with http status code 503/, from);

    const firstWindow = await until('/ab', 500, 4000); // the third failure goes through, not yet a trip
    assert.ok(firstWindow >= 1500, `open for ${firstWindow} ms`);
    assert.equal((await get(gw.url + '/ab')).status, 500); // the fourth trips again, now for 4 s
    await sleep(2500);
    assert.equal((await get(gw.url + '/ab')).status, 503, 'still open after 2.5 s: the window doubled');
    up.failWith = undefined;
    await until('/ab', 200, 4000);
    assert.equal((await get(gw.url + '/ab')).status, 200, 'closed after healthy.successes');
  } finally {
    up.failWith = undefined;
  }
});

test('without break_response_body the answer is the bare status; an unreachable upstream counts as 502', async () => {
  assert.equal((await get(gw.url + '/dead')).status, 502);
  const r = await get(gw.url + '/dead');
  assert.equal(r.status, 599);
  assert.equal(r.body, '');
});

test('answers another plugin gave before the proxy do not count: only the upstream answers do', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await get(gw.url + '/gated', { headers: { 'x-fault': 'yes' } })).status, 503);
  assert.equal((await get(gw.url + '/gated')).status, 200);
});

test('the access log shows the breaker as each request found it ($api_breaker_state); trips are counted', async () => {
  const log = join(gw.dir, 'ab.log');
  up.failWith = 500;
  try {
    assert.equal((await get(gw.url + '/observed?n=1')).status, 500); // trips (failures: 1)
    assert.equal((await get(gw.url + '/observed?n=2')).status, 599);
  } finally {
    up.failWith = undefined;
  }
  let probe = 0;
  for (const started = Date.now(); ; probe++) { // through once the 2 s window is over
    if ((await get(`${gw.url}/observed?probe=${probe}`)).status === 200) break;
    assert.ok(Date.now() - started < 4000, 'the breaker did not let a request through within 4 s');
    await sleep(100);
  }
  assert.equal((await get(gw.url + '/observed?n=3')).status, 200); // the second healthy answer closes it
  assert.equal((await get(gw.url + '/observed?n=4')).status, 200);

  const states = async (uri: string): Promise<unknown> => (await logEntry(log, 'uri', uri)).breaker;
  assert.equal(await states('/observed?n=1'), 'closed');
  assert.equal(await states('/observed?n=2'), 'open');
  if (probe > 0) assert.equal(await states(`/observed?probe=${probe - 1}`), 'open');
  assert.equal(await states(`/observed?probe=${probe}`), 'half-open');
  assert.equal(await states('/observed?n=3'), 'half-open');
  assert.equal(await states('/observed?n=4'), 'closed');
  assert.equal(await metricValue(gw, 'gatehouse_api_breaker_trips_total{route="observed"}'), 1);
  assert.ok(await metricValue(gw, 'gatehouse_plugin_responses_total{plugin="api-breaker",route="observed",code="599"}') >= 1);
});

const put = (store: Gateway, path: string, body: unknown) => get(store.adminUrl + path, {
  method: 'PUT', headers: { 'X-API-KEY': store.adminKey, 'content-type': 'application/json' }, body: JSON.stringify(body),
});

test('bad config is refused with a 400 naming the field', async () => {
  const writable = await startGateway({ store: 'sqlite' });
  try {
    const route = (conf: unknown) => put(writable, '/routes/bad', { uri: '/bad', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { 'api-breaker': conf } });
    const cases: [unknown, RegExp][] = [
      [{}, /break_response_code/],
      [{ break_response_code: 700 }, /break_response_code/],
      [{ break_response_code: 502, max_breaker_sec: 2 }, /max_breaker_sec/],
      [{ break_response_code: 502, unhealthy: { http_statuses: [404] } }, /http_statuses/],
      [{ break_response_code: 502, healthy: { successes: 0 } }, /successes/],
      [{ break_response_code: 502, break_response_headers: [{ key: 'X' }] }, /value/],
    ];
    for (const [conf, field] of cases) {
      const r = await put(writable, '/routes/bad', { uri: '/bad', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { 'api-breaker': conf } });
      assert.equal(r.status, 400, JSON.stringify(conf));
      assert.match(r.json().error_msg, field);
    }
    const ok = await route({ break_response_code: 502 });
    assert.ok(ok.status === 200 || ok.status === 201, `status ${ok.status}`);
  } finally {
    await writable.stop();
  }
});
