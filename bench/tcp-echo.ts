// TCP echo through a stream route (docs/stream-routes.md) against the echo server directly:
// `connections` connections each doing ping-pong with a 64-byte message for a run's
// duration, the two sides alternating run by run (and which goes first) so a drift of the
// machine hits both; the figures are medians of the runs. The round trip is the latency a
// client sees; round trips per second over all connections is the throughput.
import { connect, type Socket } from 'node:net';
import { quantile } from './apply-latency.js';
import { median } from './report.js';

const MESSAGE = Buffer.alloc(64, 'x');

export interface PingPongRun { roundTripsPerS: number; p50Ms: number; p99Ms: number }

export interface TcpEchoResult {
  connections: number;
  durationS: number;
  direct: PingPongRun;
  gateway: PingPongRun;
  /** gateway ÷ direct round trips per second (medians of the runs). */
  ratio: number;
  runs: { direct: PingPongRun[]; gateway: PingPongRun[] };
}

/** Each connection sends MESSAGE, waits for all of it back, repeats until the time is up. */
export async function pingPong(port: number, connections: number, durationS: number): Promise<PingPongRun> {
  const latencies: number[] = [];
  const until = performance.now() + durationS * 1000;
  await Promise.all(Array.from({ length: connections }, () => new Promise<void>((resolve, reject) => {
    const s: Socket = connect({ host: '127.0.0.1', port, noDelay: true });
    let got = 0;
    let sent = 0;
    s.on('error', reject);
    s.on('close', () => reject(new Error(`127.0.0.1:${port} closed the connection during the run`)));
    const send = (): void => {
      if (performance.now() >= until) {
        s.removeAllListeners('close');
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
  return { roundTripsPerS: latencies.length / durationS, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) };
}

function medianRun(runs: PingPongRun[]): PingPongRun {
  return {
    roundTripsPerS: median(runs.map((r) => r.roundTripsPerS)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
  };
}

/** `rounds` runs per side after one unmeasured run each. */
export async function runTcpEcho(directPort: number, gatewayPort: number, opts: { connections: number; durationS: number; rounds: number }): Promise<TcpEchoResult> {
  const { connections, durationS, rounds } = opts;
  await pingPong(directPort, connections, Math.min(1, durationS));
  await pingPong(gatewayPort, connections, Math.min(1, durationS));
  const runs = { direct: [] as PingPongRun[], gateway: [] as PingPongRun[] };
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? (['direct', 'gateway'] as const) : (['gateway', 'direct'] as const);
    for (const side of order) runs[side].push(await pingPong(side === 'direct' ? directPort : gatewayPort, connections, durationS));
  }
  const direct = medianRun(runs.direct);
  const gateway = medianRun(runs.gateway);
  return { connections, durationS, direct, gateway, ratio: gateway.roundTripsPerS / direct.roundTripsPerS, runs };
}

export function formatTcpEcho(r: TcpEchoResult): string {
  const row = (label: string, x: PingPongRun, ratio: number): string =>
    `  ${label.padEnd(26)} ${Math.round(x.roundTripsPerS).toLocaleString('en-US').padStart(9)}  ${x.p50Ms.toFixed(2).padStart(7)}  ${x.p99Ms.toFixed(2).padStart(7)}  ${ratio.toFixed(2)}×`;
  return [
    '▸ TCP echo through a stream route — 64-byte ping-pong, the echo server directly vs through the gateway',
    `  (${r.connections} connections, ${r.durationS} s per run, ${r.runs.direct.length} runs per side alternating; medians)`,
    '  target                     trips/s   p50 ms   p99 ms   ÷ direct',
    row('echo server (direct)', r.direct, 1),
    row('gateway (stream route)', r.gateway, r.ratio),
  ].join('\n');
}
