import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWithUpstream, stopWithUpstream, eventually, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// include_req_body: a logger reads the request body (bounded) so the entry carries it;
// the upstream still gets it whole; include_req_body_expr picks which requests;
// max_req_body_bytes caps what is logged.

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'all', uri: '/all', upstream, plugins: { 'file-logger': { path: 'all.log', include_req_body: true, max_req_body_bytes: 8 } } },
      {
        id: 'some', uri: '/some', upstream,
        plugins: { 'file-logger': { path: 'some.log', include_req_body: true, include_req_body_expr: [['arg_log', '==', 'yes']] } },
      },
    ],
  }), { extra: { log_dir: '.' } }));
});

after(() => stopWithUpstream(gw, up));

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
