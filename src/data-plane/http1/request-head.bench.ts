// Micro-benchmark for parseRequestHead (not a test: scripts/run-tests.mjs runs only *.test.js).
//   npx tsc -p tsconfig.json && node dist/src/data-plane/http1/request-head.bench.js [iterations]
//
// Parses a typical wrk/browser GET head N times (default 1,000,000, in 5 rounds) and prints
// ns/op of the best and the median round (the best round is the least disturbed by other
// load). For comparison it also times node's own parser (llhttp via the legacy `_http_common` binding) on
// the same bytes: once for the raw parse only (execute + the headers-complete callback that
// receives rawHeaders and the url), and once adding the headers object as node's
// IncomingMessage builds it (its own _addHeaderLine). That second figure is the comparable
// one: parseRequestHead returns rawHeaders and headers both.

import { createRequire } from 'node:module';
import { parseRequestHead } from './request-head.js';

const HEAD =
  'GET /api/v1/items?id=42&sort=asc HTTP/1.1\r\n' +
  'Host: api.example.com\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n' +
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n' +
  'Accept-Encoding: gzip, deflate, br, zstd\r\n' +
  'Connection: keep-alive\r\n' +
  'Cookie: session=5f2b1c9e8a7d4f3b; theme=dark\r\n' +
  '\r\n';
const buf = Buffer.from(HEAD, 'latin1');
const iterations = Number(process.argv[2] ?? 1_000_000);

const ROUNDS = 5;

/** Runs fn n times in ROUNDS rounds (after a warm-up) and prints the best and the median round. */
function time(label: string, n: number, fn: () => unknown): void {
  for (let k = 0; k < Math.min(n, 50_000); k++) fn(); // warm-up: measure optimised code
  let sink: unknown;
  const perRound = Math.max(1, Math.floor(n / ROUNDS));
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < perRound; k++) sink = fn();
    rounds.push(Number(process.hrtime.bigint() - t0) / perRound);
  }
  if (sink === 0) console.log('');
  rounds.sort((a, b) => a - b);
  const best = rounds[0].toFixed(1).padStart(7);
  const median = rounds[Math.floor(ROUNDS / 2)].toFixed(1).padStart(7);
  console.log(`${label.padEnd(42)} best ${best} ns/op, median ${median} ns/op  (${perRound * ROUNDS} ops)`);
}

const check = parseRequestHead(buf, 16384);
if (check === undefined || !check.ok || check.consumed !== buf.length) throw new Error('benchmark head does not parse');

// wrk's default request, for scale
const wrk = Buffer.from('GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n', 'latin1');

console.log(`${buf.length}-byte head, ${iterations} iterations per parser`);
time('parseRequestHead', iterations, () => parseRequestHead(buf, 16384));
time(`parseRequestHead (wrk default, ${wrk.length} bytes)`, iterations, () => parseRequestHead(wrk, 16384));

// ---- node's parser, for comparison (optional: skipped if the internals are not reachable)
interface NodeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  [key: number]: unknown;
}
interface NodeParserClass {
  new (): NodeParser;
  REQUEST: number;
  kOnHeadersComplete: number;
}
try {
  const require = createRequire(import.meta.url);
  const { HTTPParser } = require('_http_common') as { HTTPParser: NodeParserClass };
  const { IncomingMessage } = require('_http_incoming') as {
    IncomingMessage: { prototype: { _addHeaderLine(field: string, value: string, dest: object): void } };
  };
  const addHeaderLine = IncomingMessage.prototype._addHeaderLine;
  const self = { joinDuplicateHeaders: false };

  let raw: string[] = [];
  let url = '';
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {}, 16384, 0);
  parser[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, headers: string[], _m: number, u: string) => {
    raw = headers;
    url = u;
  };
  time('node llhttp: execute (rawHeaders + url)', iterations, () => {
    parser.execute(buf);
    return url;
  });
  time('node llhttp: execute + headers object', iterations, () => {
    parser.execute(buf);
    const dest = {};
    for (let k = 0; k < raw.length; k += 2) addHeaderLine.call(self, raw[k], raw[k + 1], dest);
    return dest;
  });
} catch (err) {
  console.log(`(node parser comparison skipped: ${(err as Error).message})`);
}
