// TCP echo through a stream route against the echo server directly: round trips per
// second and their latency over `--connections` connections each doing ping-pong with a
// small message for `--duration` seconds, then one bulk transfer (64 MiB each way) for
// throughput. `node dist/bench/stream-echo.js [--duration=5] [--connections=50]`.
// The gateway runs with one worker, its default, on a standalone file.
import { createServer, connect, type Socket } from 'node:net';
import { startGateway } from '../test/helpers/gateway.js';
import { streamAddresses } from '../test/integration/stream/stream-fixtures.js';

const arg = (name: string, def: number): number => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? def : Number(a.slice(name.length + 3));
};
const DURATION_S = arg('duration', 5);
const CONNECTIONS = arg('connections', 50);
const WORKERS = arg('workers', 1);
const MESSAGE = Buffer.alloc(64, 'x');
const BULK = 64 * 1024 * 1024;

interface PingPong { rps: number; p50: number; p99: number }

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

/** Each connection sends MESSAGE, waits for it back, repeats until the time is up. */
async function pingPong(port: number): Promise<PingPong> {
  const latencies: number[] = [];
  const until = performance.now() + DURATION_S * 1000;
  await Promise.all(Array.from({ length: CONNECTIONS }, () => new Promise<void>((resolve, reject) => {
    const s: Socket = connect({ host: '127.0.0.1', port, noDelay: true });
    let got = 0;
    let sent = 0;
    s.on('error', reject);
    const send = (): void => {
      if (performance.now() >= until) {
        s.destroy();
        resolve();
        return;
      }
      got = 0;
      sent = performance.now();
      s.write(MESSAGE);
    };
    s.on('data', (c: Buffer) => {
      got += c.length;
      if (got >= MESSAGE.length) {
        latencies.push(performance.now() - sent);
        send();
      }
    });
    s.once('connect', send);
  })));
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / DURATION_S, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

/** MiB/s of BULK bytes sent and echoed back on one connection. */
function bulk(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let got = 0;
    s.on('error', reject);
    s.on('data', (c: Buffer) => { got += c.length; });
    s.once('close', () => (got === BULK ? resolve((2 * BULK / 1048576) / ((performance.now() - started) / 1000)) : reject(new Error(`bulk: got ${got} of ${BULK}`))));
    s.once('connect', () => {
      const chunk = Buffer.alloc(1024 * 1024, 1);
      let left = BULK / chunk.length;
      const write = (): void => {
        while (left > 0) {
          left--;
          if (!s.write(chunk)) {
            s.once('drain', write);
            return;
          }
        }
        s.end();
      };
      write();
    });
  });
}

async function main(): Promise<void> {
  const echo = createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const echoPort = (echo.address() as { port: number }).port;
  const gw = await startGateway({
    workers: WORKERS,
    config: { stream_routes: [{ id: 'echo', upstream: { nodes: { [`127.0.0.1:${echoPort}`]: 1 } } }] },
    extra: { stream_proxy: { tcp: ['127.0.0.1:0'] } },
  });
  try {
    const gwPort = streamAddresses(gw).tcp;
    await pingPong(gwPort); // warm-up, also proves the route serves
    const rows: [string, PingPong, number][] = [];
    for (const [label, port] of [['direct', echoPort], ['gatehouse', gwPort]] as const) rows.push([label, await pingPong(port), await bulk(port)]);
    const direct = rows[0]![1].rps;
    console.log(`TCP echo, ${CONNECTIONS} connections × ${DURATION_S} s ping-pong of ${MESSAGE.length} B; bulk ${BULK / 1048576} MiB each way`);
    console.log('target      round trips/s   ratio   p50 ms   p99 ms   bulk MiB/s');
    for (const [label, r, mib] of rows) {
      console.log(`${label.padEnd(10)} ${r.rps.toFixed(0).padStart(15)} ${(r.rps / direct).toFixed(2).padStart(7)} ${r.p50.toFixed(3).padStart(8)} ${r.p99.toFixed(3).padStart(8)} ${mib.toFixed(0).padStart(12)}`);
    }
  } finally {
    await gw.stop();
    echo.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
