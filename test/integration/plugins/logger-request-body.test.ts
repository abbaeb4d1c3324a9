import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWithUpstream, stopWithUpstream, eventually, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { startUdpLogServer, type UdpLogServer } from '../../helpers/log-servers.js';

// include_req_body: a logger reads the request body (bounded) so the entry carries it;
// the upstream still gets it whole; include_req_body_expr picks which requests;
// max_req_body_bytes caps what is logged. With a log_format the include_*_body fields add
// nothing to the entry, so the response is not captured (it keeps its Content-Length).

let gw: Gateway;
let up: TestUpstream;
let udp: UdpLogServer;

before(async () => {
  udp = await startUdpLogServer();
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'all', uri: '/all', upstream, plugins: { 'file-logger': { path: 'all.log', include_req_body: true, max_req_body_bytes: 8 } } },
      {
        id: 'some', uri: '/some', upstream,
        plugins: { 'file-logger': { path: 'some.log', include_req_body: true, include_req_body_expr: [['arg_log', '==', 'yes']] } },
      },
      // a body of several chunks: one the gateway re-frames goes chunked
      { id: 'fmt-file', uri: '/bytes/300001', upstream, plugins: { 'file-logger': {
        path: 'fmt.log', include_req_body: true, include_resp_body: true, log_format: { uri: '$uri', body: '$request_body' },
      } } },
      { id: 'fmt-udp', uri: '/bytes/300002', upstream, plugins: { 'udp-logger': {
        host: '127.0.0.1', port: udp.port, batch_max_size: 1, include_resp_body: true, log_format: { uri: '$uri', status: '$status' },
      } } },
    ],
  }), { extra: { log_dir: '.' } }));
});

after(async () => {
  await stopWithUpstream(gw, up);
  await udp?.close();
});

async function lines(file: string, n: number): Promise<Record<string, { body?: string }>[]> {
  let out: Record<string, { body?: string }>[] = [];
  await eventually(async () => {
    const text = await readFile(join(gw.dir, file), 'utf8').catch(() => '');
    out = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, { body?: string }>);
    return out.length >= n;
  });
  return out;
}

test('the request body is logged (capped by max_req_body_bytes) and still reaches the upstream', async () => {
  const r = await get(gw.url + '/all', { method: 'POST', body: 'hello request body' });
  assert.equal(r.status, 200);
  assert.equal((r.json() as { body: string }).body, 'hello request body');
  const [entry] = await lines('all.log', 1);
  assert.equal(entry!.request!.body, 'hello re');
});

test('include_req_body_expr decides which requests have their body logged', async () => {
  await get(gw.url + '/some?log=yes', { method: 'POST', body: 'logged' });
  await get(gw.url + '/some?log=no', { method: 'POST', body: 'not logged' });
  const entries = await lines('some.log', 2);
  assert.equal(entries[0]!.request!.body, 'logged');
  assert.equal(entries[1]!.request!.body, undefined);
});

test('with a log_format, include_resp_body captures nothing: the response keeps its Content-Length, the entry is the format', async () => {
  const r = await get(gw.url + '/bytes/300001', { method: 'POST', body: 'named by the format' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], '300001');
  assert.equal(r.headers['transfer-encoding'], undefined);
  const [entry] = await lines('fmt.log', 1);
  // $request_body in the format: include_req_body still reads the body for it
  assert.deepEqual(entry, { uri: '/bytes/300001', body: 'named by the format', route_id: 'fmt-file', service_id: '' });

  const b = await get(gw.url + '/bytes/300002');
  assert.equal(b.status, 200);
  assert.equal(b.headers['content-length'], '300002');
  assert.equal(b.headers['transfer-encoding'], undefined);
  await eventually(() => udp.datagrams.length === 1);
  assert.deepEqual(JSON.parse(udp.datagrams[0]!), { uri: '/bytes/300002', status: 200, route_id: 'fmt-udp', service_id: '' });
});
