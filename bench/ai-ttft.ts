// Time to first token: how long from sending a streamed chat until its first SSE event carrying
// answer text arrives, straight from the fake provider and through the gateway (ai-proxy +
// ai-statistics), and what the gateway adds. Samples alternate between the two (and which goes
// first) so a drift of the machine hits both; the first ones only warm up (JIT, pooled connections).
// At concurrency > 1 a sample is that many chats started together against one side.
import { Agent, request } from 'node:http';
import { AI_CHAT_REQUEST, AI_PATH, AI_STREAM_BYTES, hasContentEvent } from './ai-chat.js';
import { quantile } from './apply-latency.js';
import { AI_TTFT_GOAL_MS, median } from './report.js';

/** Chats per side and concurrency sent before the measured ones. */
export const AI_TTFT_WARMUP = 50;
export const AI_TTFT_CONCURRENCIES = [1, 8] as const;
const REQUEST_TIMEOUT_MS = 10_000;

export interface TtftPercentiles { p50Ms: number; p99Ms: number }

export interface AiTtftLevel {
  concurrency: number;
  /** Measured chats per side. */
  samples: number;
  direct: TtftPercentiles;
  gateway: TtftPercentiles;
  /** Median of (gateway − direct) over samples paired by position: the added latency. */
  addedPairedP50Ms: number;
  /** p50 gateway − p50 direct, for comparison. */
  addedMediansMs: number;
}

export interface AiTtftResult { warmup: number; levels: AiTtftLevel[] }

/** One streamed chat: ms until the first content event; the rest of the answer is read and its length checked. */
function timeToFirstToken(baseUrl: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    let firstToken: number | undefined;
    let head = '';
    let bytes = 0;
    const t0 = performance.now();
    const req = request(baseUrl + AI_PATH, { method: 'POST', headers: AI_CHAT_REQUEST.headers, agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        bytes += Buffer.byteLength(text);
        if (firstToken !== undefined) return;
        head += text;
        if (hasContentEvent(head)) firstToken = performance.now() - t0;
      });
      res.on('end', () => {
        if (res.statusCode !== 200 || bytes !== AI_STREAM_BYTES || firstToken === undefined) {
          reject(new Error(`${baseUrl}${AI_PATH} answered HTTP ${res.statusCode} with ${bytes} bytes (expected 200 with ${AI_STREAM_BYTES}, a content event among them)`));
        } else {
          resolve(firstToken);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no complete answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(AI_CHAT_REQUEST.body);
  });
}

const percentiles = (xs: number[]): TtftPercentiles => {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) };
};

async function measureLevel(directUrl: string, gatewayUrl: string, samples: number, concurrency: number): Promise<AiTtftLevel> {
  const agents = { direct: new Agent({ keepAlive: true, maxSockets: concurrency }), gateway: new Agent({ keepAlive: true, maxSockets: concurrency }) };
  const urls = { direct: directUrl, gateway: gatewayUrl };
  const measured = { direct: [] as number[], gateway: [] as number[] };
  const batch = (side: 'direct' | 'gateway'): Promise<number[]> =>
    Promise.all(Array.from({ length: concurrency }, () => timeToFirstToken(urls[side], agents[side])));
  try {
    const warmupRounds = Math.ceil(AI_TTFT_WARMUP / concurrency);
    const rounds = Math.ceil(samples / concurrency);
    for (let round = -warmupRounds; round < rounds; round++) {
      const order = round % 2 === 0 ? (['direct', 'gateway'] as const) : (['gateway', 'direct'] as const);
      for (const side of order) {
        const ttfts = await batch(side);
        if (round >= 0) measured[side].push(...ttfts);
      }
    }
  } finally {
    agents.direct.destroy();
    agents.gateway.destroy();
  }
  const direct = percentiles(measured.direct);
  const gateway = percentiles(measured.gateway);
  return {
    concurrency, samples: measured.direct.length, direct, gateway,
    addedPairedP50Ms: median(measured.gateway.map((g, i) => g - measured.direct[i]!)),
    addedMediansMs: gateway.p50Ms - direct.p50Ms,
  };
}

export async function runAiTtft(directUrl: string, gatewayUrl: string, samples: number): Promise<AiTtftResult> {
  const levels: AiTtftLevel[] = [];
  for (const c of AI_TTFT_CONCURRENCIES) levels.push(await measureLevel(directUrl, gatewayUrl, samples, c));
  return { warmup: AI_TTFT_WARMUP, levels };
}

/** Whether the added time to first token at concurrency 1 meets the goal (p50 < 1 ms). */
export function aiTtftGoalMet(r: AiTtftResult): boolean {
  return r.levels[0]!.addedPairedP50Ms < AI_TTFT_GOAL_MS;
}

export function formatAiTtft(r: AiTtftResult): string {
  const ms = (n: number): string => `${n.toFixed(2)} ms`;
  const lines = [
    `▸ Time to first token — streamed chat until its first content event, the fake provider directly vs through ai-proxy + ai-statistics`,
    `  (${r.levels[0]!.samples} chats per side and concurrency after ${r.warmup} unmeasured; direct and gateway alternate, first one alternating too)`,
  ];
  for (const l of r.levels) {
    lines.push(`  concurrency ${String(l.concurrency).padEnd(2)}  direct p50 ${ms(l.direct.p50Ms)}  p99 ${ms(l.direct.p99Ms)}   gateway p50 ${ms(l.gateway.p50Ms)}  p99 ${ms(l.gateway.p99Ms)}`);
    lines.push(`                 added p50 ${ms(l.addedPairedP50Ms)} (median of paired differences; difference of medians ${ms(l.addedMediansMs)})`);
  }
  const added = r.levels[0]!.addedPairedP50Ms;
  lines.push(`  goal: added time to first token p50 < ${AI_TTFT_GOAL_MS} ms (concurrency 1)  →  ${ms(added)}  ${aiTtftGoalMet(r) ? 'MET' : 'MISSED'}`);
  return lines.join('\n');
}
