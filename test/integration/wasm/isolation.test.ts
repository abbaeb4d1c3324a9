// A wasm plugin that traps, loops forever or grows its memory past the limit fails the
// request in flight only (or passes it, FAIL_OPEN), is logged with its name, and its VM is
// rebuilt: the next request through it works, and other routes never notice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { get } from '../../helpers/http.js';
import { startWasmGateway, type WasmGateway } from '../../helpers/wasm-gateway.js';

let w: WasmGateway;

before(async () => {
  w = await startWasmGateway([
    { name: 'trap', fixture: 'trap' },
    { name: 'trap-open', fixture: 'trap', fail_strategy: 'FAIL_OPEN' },
    { name: 'loop', fixture: 'loop' },
    { name: 'loop-open', fixture: 'loop', fail_strategy: 'FAIL_OPEN' },
    { name: 'memory-grow', fixture: 'memory-grow' },
    { name: 'set-header', fixture: 'set-header' },
  ], (u) => [
    { id: 'trap', uri: '/trap', upstream_id: u, plugins: { trap: {} } },
    { id: 'trap-open', uri: '/trap-open', upstream_id: u, plugins: { 'trap-open': {} } },
    { id: 'loop', uri: '/loop', upstream_id: u, plugins: { loop: {} } },
    { id: 'loop-open', uri: '/loop-open', upstream_id: u, plugins: { 'loop-open': {} } },
    { id: 'grow', uri: '/grow', upstream_id: u, plugins: { 'memory-grow': {} } },
    { id: 'other', uri: '/other', upstream_id: u, plugins: { 'set-header': {} } },
  ], { wasm: { call_timeout_ms: 100, memory_limit_mb: 4 } });
});

after(async () => { await w?.stop(); });

const header = (body: string, name: string): string | undefined => (JSON.parse(body) as { headers: Record<string, string> }).headers[name];

test('a trap fails that request with 500, logged with the plugin name; the VM is rebuilt for the next one', async () => {
  const from = w.gw.output().length;
  const r = await get(`${w.gw.url}/trap`, { headers: { 'x-trap': '1' } });
  assert.equal(r.status, 500);
  await w.gw.waitForOutput(/"plugin":"trap"[^\n]*trapped \(unreachable\)[^\n]*the VM is rebuilt/, from);
  const next = await get(`${w.gw.url}/trap`);
  assert.equal(next.status, 200);
  assert.equal(header(next.body, 'x-trap-free'), '1');
  assert.equal((await get(`${w.gw.url}/other`)).status, 200);
});

test('FAIL_OPEN: a trap lets the request through without the plugin', async () => {
  const from = w.gw.output().length;
  const r = await get(`${w.gw.url}/trap-open`, { headers: { 'x-trap': '1' } });
  assert.equal(r.status, 200);
  assert.equal(header(r.body, 'x-trap-free'), undefined);
  await w.gw.waitForOutput(/wasm plugin trap-open failed; the request goes on without it \(FAIL_OPEN\)/, from);
});

test('an infinite loop is cut at the call deadline: 500, and the worker keeps serving', async () => {
  const from = w.gw.output().length;
  const slow = get(`${w.gw.url}/loop`, { headers: { 'x-loop': '1' } });
  // the worker's thread is the guest's: the other route answers once the deadline cut the loop
  const [r, other] = await Promise.all([slow, get(`${w.gw.url}/other`)]);
  assert.equal(r.status, 500);
  assert.equal(other.status, 200);
  await w.gw.waitForOutput(/"plugin":"loop"[^\n]*did not return within 100 ms/, from);
  const next = await get(`${w.gw.url}/loop`);
  assert.equal(next.status, 200);
  assert.equal(header(next.body, 'x-loop-free'), '1');
});

test('FAIL_OPEN: an overrun passes the request', async () => {
  const r = await get(`${w.gw.url}/loop-open`, { headers: { 'x-loop': '1' } });
  assert.equal(r.status, 200);
});

test('memory cannot grow past wasm.memory_limit_mb: memory.grow fails in the guest (-1)', async () => {
  const small = await get(`${w.gw.url}/grow`, { headers: { 'x-grow': '1' } });
  assert.equal(header(small.body, 'x-grow-result'), '2', 'one page more from 2 is allowed');
  // 4 MiB = 64 pages: asking for 100 more fails
  const big = await get(`${w.gw.url}/grow`, { headers: { 'x-grow': '100' } });
  assert.equal(big.status, 200);
  assert.equal(header(big.body, 'x-grow-result'), '-1');
});

test('a VM whose memory reached the limit is retired after the call; the next request gets a fresh one', async () => {
  const probe = await get(`${w.gw.url}/grow`, { headers: { 'x-grow': '1' } });
  const now = Number(header(probe.body, 'x-grow-result')) + 1;
  const from = w.gw.output().length;
  // 4 MiB = 64 pages: grow to exactly the limit (allowed), which retires the VM
  const full = await get(`${w.gw.url}/grow`, { headers: { 'x-grow': String(64 - now) } });
  assert.equal(header(full.body, 'x-grow-result'), String(now));
  await w.gw.waitForOutput(/wasm plugin memory-grow: it grew its memory to its limit of 4194304 bytes; its VM is rebuilt/, from);
  const fresh = await get(`${w.gw.url}/grow`, { headers: { 'x-grow': '1' } });
  assert.equal(header(fresh.body, 'x-grow-result'), '2', 'a fresh VM starts at 2 pages again');
});
