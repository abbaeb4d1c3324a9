import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setLogLevel } from '../../core/logger.js';
import { SPAN_KIND, STATUS, type SpanRecord } from '../../observability/tracing/span.js';
import { SpanExporter, type SpanBatching } from './span-export.js';

// The exporter against a loopback collector: what it actually received, batch by batch.

setLogLevel('silent');

interface Batch {
  path: string;
  headers: IncomingHttpHeaders;
  names: string[];
}

interface Collector {
  url: string;
  batches: Batch[];
  /** Replies held back while `holding` (or for ever, per `neverAnswer`). */
  held: ServerResponse[];
  /** Requests whose connection the client closed before an answer came. */
  cut: number;
  holding: boolean;
  neverAnswer(path: string): boolean;
  release(): void;
}

const servers: { close(): void; closeAllConnections(): void }[] = [];
after(() => {
  for (const s of servers) { s.closeAllConnections(); s.close(); }
});

async function startCollector(): Promise<Collector> {
  const c: Collector = {
    url: '', batches: [], held: [], cut: 0, holding: false, neverAnswer: () => false,
    release() {
      this.holding = false;
      for (const res of this.held.splice(0)) res.end();
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      c.batches.push({ path: req.url ?? '', headers: req.headers, names: JSON.parse(Buffer.concat(chunks).toString()) as string[] });
      if (c.neverAnswer(req.url ?? '')) {
        res.on('close', () => { if (!res.writableEnded) c.cut++; });
        return;
      }
      if (c.holding) c.held.push(res);
      else res.end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  c.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return c;
}

function span(name: string): SpanRecord {
  return {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', parentSpanId: undefined, traceState: '',
    name, kind: SPAN_KIND.SERVER, start: 0, end: 1, attributes: [], status: STATUS.UNSET, statusMessage: '',
  };
}

const LONG = 60_000;

function exporter(url: string, batching: Partial<SpanBatching>, timeoutMs = 5000): SpanExporter {
  return new SpanExporter({
    plugin: 'span-export-test', url, headers: { 'x-token': 'abc' }, timeoutMs,
    batching: {
      maxQueueSize: 100, maxExportBatchSize: 10, batchTimeoutMs: LONG, inactiveTimeoutMs: LONG,
      dropOnQueueFull: true, maxRetryCount: 0, retryDelayMs: 0, ...batching,
    },
    encode: (spans) => ({ body: JSON.stringify(spans.map((s) => s.name)), contentType: 'application/json' }),
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  for (let waited = 0; waited < ms && !cond(); waited += 10) await sleep(10);
  assert.ok(cond(), 'condition not met in time');
}

/** Fails instead of hanging when the exporter never finishes. */
async function drained(e: SpanExporter, ms = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), ms); });
  const outcome = await Promise.race([e.drain().then(() => 'drained' as const), late]);
  clearTimeout(timer);
  assert.equal(outcome, 'drained', `spans still pending after ${ms} ms`);
}

const total = (c: Collector): number => c.batches.reduce((n, b) => n + b.names.length, 0);

test('max_export_batch_size spans go out at once as one POST, with the headers, to the URL\'s path', async () => {
  const c = await startCollector();
  const e = exporter(`${c.url}/v1/traces?tenant=a`, { maxExportBatchSize: 3 });
  for (let i = 0; i < 7; i++) e.add(span(`s${i}`));
  await until(() => c.batches.length === 2 && e.pending === 1);
  assert.deepEqual(c.batches.map((b) => b.names), [['s0', 's1', 's2'], ['s3', 's4', 's5']]);
  assert.equal(c.batches[0]!.path, '/v1/traces?tenant=a');
  assert.equal(c.batches[0]!.headers['x-token'], 'abc');
  assert.equal(c.batches[0]!.headers['content-type'], 'application/json');
  await drained(e);
  assert.deepEqual(c.batches.map((b) => b.names), [['s0', 's1', 's2'], ['s3', 's4', 's5'], ['s6']]);
});

test('batch_timeout sends the oldest spans while spans keep arriving (inactive_timeout never comes)', async () => {
  const c = await startCollector();
  const e = exporter(c.url, { maxExportBatchSize: 1000, batchTimeoutMs: 200 });
  let added = 0;
  for (; added < 150 && c.batches.length === 0; added++) {
    e.add(span(`s${added}`));
    await sleep(20);
  }
  assert.equal(c.batches.length, 1, 'a batch came while spans were still being added');
  assert.ok(c.batches[0]!.names.length < 150);
  assert.deepEqual(c.batches[0]!.names, Array.from({ length: c.batches[0]!.names.length }, (_, i) => `s${i}`));
  await drained(e);
  assert.equal(total(c), added);
});

test('inactive_timeout sends a partial batch once no span came for that long', async () => {
  const c = await startCollector();
  const e = exporter(c.url, { inactiveTimeoutMs: 100 });
  e.add(span('a'));
  e.add(span('b'));
  // the collector has the batch before the exporter has its answer: wait for both
  await until(() => c.batches.length === 1 && e.pending === 0);
  assert.deepEqual(c.batches[0]!.names, ['a', 'b']);
});

test('a collector that never answers is cut at request_timeout; the batch is retried, or dropped without retries left', async () => {
  const c = await startCollector();
  // /retried: its first attempt hangs, the retry is answered; /dropped: never answered
  c.neverAnswer = (path) => path === '/dropped' || (path === '/retried' && c.batches.filter((b) => b.path === '/retried').length === 1);
  const retried = exporter(`${c.url}/retried`, { maxRetryCount: 1 }, 1000);
  const dropped = exporter(`${c.url}/dropped`, { maxRetryCount: 0 }, 1000);
  retried.add(span('r'));
  dropped.add(span('d'));
  await Promise.all([drained(retried), drained(dropped)]);
  assert.deepEqual(c.batches.filter((b) => b.path === '/retried').map((b) => b.names), [['r'], ['r']]);
  assert.deepEqual(c.batches.filter((b) => b.path === '/dropped').map((b) => b.names), [['d']], 'no retry left: sent once');
  await until(() => c.cut === 2);
  assert.equal(retried.pending + dropped.pending, 0);
});

test('while the collector is slow but up, max_queue_size bounds the spans held; drop_on_queue_full false holds up to twice it', async () => {
  const c = await startCollector();
  c.holding = true;
  const dropping = exporter(`${c.url}/dropping`, { maxQueueSize: 10, maxExportBatchSize: 2 });
  const keeping = exporter(`${c.url}/keeping`, { maxQueueSize: 10, maxExportBatchSize: 2, dropOnQueueFull: false });
  for (let i = 0; i < 30; i++) {
    dropping.add(span(`d${i}`));
    keeping.add(span(`k${i}`));
  }
  assert.equal(dropping.pending, 10);
  assert.equal(keeping.pending, 20);
  // the first batches are in flight: the collector has them, unanswered
  await until(() => c.held.length === 8);
  c.release();
  await Promise.all([drained(dropping), drained(keeping)]);
  // batches in flight together may arrive in any order
  const sent = (path: string): string[] => c.batches.filter((b) => b.path === path).flatMap((b) => b.names).sort();
  assert.deepEqual(sent('/dropping'), Array.from({ length: 10 }, (_, i) => `d${i}`).sort());
  assert.deepEqual(sent('/keeping'), Array.from({ length: 20 }, (_, i) => `k${i}`).sort());
});
