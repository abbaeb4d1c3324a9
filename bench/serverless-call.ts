// Per-request cost of a trivial serverless function, which crosses the isolate boundary:
//   node --no-node-snapshot dist/bench/serverless-call.js [samples]
// "request": what a request's first function costs (a fresh context with the prelude, the
// function's top-level code, the call, the release at the end of the request).
// "call": one more call of a function already defined in the request's context.
// Prints the median and p90 of each, in microseconds.
import { Sandbox } from '../src/serverless/sandbox.js';
import { makeTestContext } from '../src/plugins/common/test-context-transform.js';

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

const perRequest: number[] = [];
const perCall: number[] = [];
for (let i = 0; i < samples + 200; i++) {
  const ctx = makeTestContext();
  const first = timeUs(() => {
    box.session(ctx).call('bench', box.compile(entry), conf, 'request');
    ctx.finish();
  });
  const ctx2 = makeTestContext();
  box.session(ctx2).call('bench', box.compile(entry), conf, 'request');
  const again = timeUs(() => void box.session(ctx2).call('bench', box.compile(entry), conf, 'request'));
  ctx2.finish();
  if (i >= 200) {
    perRequest.push(first);
    perCall.push(again);
  }
}
console.log(JSON.stringify({ samples, request_us: stats(perRequest), call_us: stats(perCall) }));
box.dispose();
