// Per-request cost of a trivial serverless function, which crosses the isolate boundary:
//   node --no-node-snapshot dist/bench/serverless-call.js [samples]
// A request's first function costs its context (made then, or taken from the spares made
// ahead), the function's top-level code, the call and the release at the end; a further
// call in the same request costs the call alone.
// Prints the median and p90 of each, in microseconds.
import { Sandbox } from '../src/serverless/sandbox.js';
import { makeTestContext } from '../test/helpers/plugin-context-transform.js';

const samples = Number(process.argv[2] ?? 2000);
const box = new Sandbox({ memoryLimitMb: 64, timeoutMs: 200 });
const entry = { source: "(conf, ctx) => { ctx.request.setHeader('x-a', '1') }", label: 'plugins.bench.functions[0]' };
const conf = { phase: 'access', functions: [entry.source] };

function timeUs(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1000;
}

function stats(xs: number[]): { median: number; p90: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: Math.round(s[Math.floor(s.length / 2)]! * 10) / 10, p90: Math.round(s[Math.floor(s.length * 0.9)]! * 10) / 10 };
}

/** A request's first function, then its end; `ready`: wait for a spare context to be made first. */
async function requestCost(ready: boolean): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples + 100; i++) {
    if (ready) while (box.spareContexts === 0) await new Promise((r) => setTimeout(r, 1));
    const ctx = makeTestContext();
    const us = timeUs(() => {
      box.session(ctx).call('bench', box.compile(entry), conf, 'request');
      ctx.finish();
    });
    if (i >= 100) out.push(us);
  }
  return out;
}

const perCall: number[] = [];
const held = makeTestContext();
box.session(held).call('bench', box.compile(entry), conf, 'request');
for (let i = 0; i < samples + 100; i++) {
  const us = timeUs(() => void box.session(held).call('bench', box.compile(entry), conf, 'request'));
  if (i >= 100) perCall.push(us);
}
held.finish();
const backToBack = await requestCost(false);
const withSpare = await requestCost(true);
console.log(JSON.stringify({
  samples,
  // no spare context ready (requests back to back, as under sustained load): the context is made in the request
  request_new_context_us: stats(backToBack),
  // a spare context was made ahead, off the event loop
  request_spare_context_us: stats(withSpare),
  // one more call in a request that already has its context and the function
  call_us: stats(perCall),
}));
box.dispose();
