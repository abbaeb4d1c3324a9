import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { eventually, startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get, type SimpleResponse } from '../../helpers/http.js';

// limit-conn with policy `local` on two workers: the slots are counted in the primary,
// given back in the log phase (aborted requests included), and given back by the
// primary when the worker holding them dies.

const PID = { 'serverless-post-function': { phase: 'header_filter', functions: ["(conf, ctx) => { ctx.response.setHeader('x-worker-pid', String(ctx.var.pid)) }"] } };

let gw: Gateway;
let up: TestUpstream;
const workerPids = new Set<string>();

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'slow', uri: '/slow', upstream, plugins: { ...PID,
        'limit-conn': { conn: 2, burst: 1, default_conn_delay: 0.1, only_use_default_delay: true, key: 'remote_addr', rejected_msg: 'busy' } } },
    ],
  }), { workers: 2 }));
});

after(() => stopWithUpstream(gw, up));

const fresh = (path: string): Promise<SimpleResponse> => get(gw.url + path, { headers: { connection: 'close' } });

/** A request left in flight; `done` settles when it is answered or fails. */
function hold(ms: number): { abort(): void; done: Promise<number | undefined> } {
  const ac = new AbortController();
  const done = request(`${gw.url}/slow?ms=${ms}`, { signal: ac.signal, headers: { connection: 'close' } })
    .then(async (r) => { await r.body.text(); return r.statusCode; }, () => undefined);
  return { abort: () => ac.abort(), done };
}

/**
 * The answering worker's pid, or undefined. Bounded: a connection the primary hands to
 * a worker at the moment it dies is never answered (node:cluster round-robin), so wait
 * at most 2 s and try again.
 */
async function probe(): Promise<string | undefined> {
  try {
    const r = await request(`${gw.url}/slow?ms=10`, { headers: { connection: 'close' }, headersTimeout: 2000, bodyTimeout: 2000 });
    await r.body.text();
    const p = r.headers['x-worker-pid'];
    return typeof p === 'string' ? p : undefined;
  } catch {
    return undefined;
  }
}

const slowSeen = (): number => up.seen.filter((s) => s.url.startsWith('/slow')).length;

test('conn 2 + burst 1 across two workers: three run, the rest are rejected; the slots come back after', async () => {
  const responses = await Promise.all(Array.from({ length: 6 }, () => fresh('/slow?ms=1500')));
  assert.deepEqual(responses.map((r) => r.status).sort(), [200, 200, 200, 503, 503, 503]);
  for (const r of responses) workerPids.add(String(r.headers['x-worker-pid']));
  assert.equal(workerPids.size, 2, 'both workers answered');
  assert.deepEqual(responses.find((r) => r.status === 503)!.json(), { error_msg: 'busy' });
  // every slot was given back in the log phase
  const again = await Promise.all(Array.from({ length: 3 }, () => fresh('/slow?ms=50')));
  assert.deepEqual(again.map((r) => r.status), [200, 200, 200]);
});

test('aborted requests give their slots back', async () => {
  const seen = slowSeen();
  const held = [hold(20_000), hold(20_000), hold(20_000)];
  await eventually(() => slowSeen() >= seen + 3, 100, 50); // all three reached the upstream
  assert.equal((await fresh('/slow?ms=10')).status, 503);
  for (const h of held) h.abort();
  await Promise.all(held.map((h) => h.done));
  await eventually(async () => (await fresh('/slow?ms=10')).status === 200, 100, 50);
  const after = await Promise.all(Array.from({ length: 3 }, () => fresh('/slow?ms=50')));
  assert.deepEqual(after.map((r) => r.status), [200, 200, 200]);
});

test('the slots of a worker that dies are given back by the primary', async () => {
  const seen = slowSeen();
  const held = [hold(30_000), hold(30_000), hold(30_000)];
  await eventually(() => slowSeen() >= seen + 3, 100, 50);
  assert.equal((await fresh('/slow?ms=10')).status, 503);
  // both workers die with their requests in flight, so no log phase runs for those. One
  // at a time: a listener on port 0 whose workers are all gone would come back on another port.
  const known = new Set(workerPids);
  for (const victim of workerPids) {
    process.kill(Number(victim), 'SIGKILL');
    await eventually(async () => {
      const p = await probe();
      if (typeof p === 'string' && !known.has(p)) {
        known.add(p); // its replacement serves
        return true;
      }
      return false;
    }, 200, 50);
  }
  await Promise.all(held.map((h) => h.done));
  // every slot the dead workers held is free again
  const after = await Promise.all(Array.from({ length: 3 }, () => fresh('/slow?ms=50')));
  assert.deepEqual(after.map((r) => r.status), [200, 200, 200]);
});
