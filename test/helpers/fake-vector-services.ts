// The services a semantic cache talks to, on loopback: an OpenAI-compatible embeddings
// endpoint whose vectors follow topic words (questions on the same topic land close), and a
// Qdrant speaking the part of its REST API a cache uses (points upsert and search, cosine
// score, payloads), with its documented reply shapes.
import { startLoopbackServer, type ReceivedRequest } from './loopback-server.js';

export interface FakeEmbeddings {
  url: string;
  port: number;
  inputs: string[];
  close(): Promise<void>;
}

const TOPICS = ['france', 'italy', 'weather'];

/** A vector with one axis per topic word the text names, plus a small text-dependent part. */
export function topicVector(text: string): number[] {
  const lower = text.toLowerCase();
  return [...TOPICS.map((t) => (lower.includes(t) ? 1 : 0)), (lower.length % 7) / 100];
}

export async function startFakeEmbeddings(): Promise<FakeEmbeddings> {
  const inputs: string[] = [];
  const server = await startLoopbackServer((req, res) => {
    const json = JSON.parse(req.body.toString('utf8')) as { input: string; model: string };
    inputs.push(json.input);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', model: json.model, data: [{ object: 'embedding', index: 0, embedding: topicVector(json.input) }], usage: { prompt_tokens: 1, total_tokens: 1 } }));
  });
  return { url: server.url, port: Number(new URL(server.url).port), inputs, close: () => closeServer(server.server) };
}

interface Point { id: string; vector: number[]; payload: Record<string, unknown> }

export interface FakeQdrant {
  port: number;
  points(collection: string): Point[];
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** Qdrant's REST API for existing `collections` (cosine distance): PUT …/points, POST …/points/search. */
export async function startFakeQdrant(collections: string[], apiKey?: string): Promise<FakeQdrant> {
  const stored = new Map(collections.map((c) => [c, [] as Point[]]));
  const requests: ReceivedRequest[] = [];
  const server = await startLoopbackServer((req, res) => {
    requests.push(req);
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (apiKey !== undefined && req.headers['api-key'] !== apiKey) return reply(401, { status: { error: 'Invalid api-key' } });
    const m = /^\/collections\/([^/]+)\/points(\/search)?(\?.*)?$/.exec(req.url);
    const points = m === null ? undefined : stored.get(m[1]!);
    if (m === null || points === undefined) return reply(404, { status: { error: `Not found: Collection \`${m?.[1]}\` doesn't exist!` }, time: 0 });
    const json = JSON.parse(req.body.toString('utf8'));
    if (m[2] === undefined && req.method === 'PUT') {
      for (const p of json.points as Point[]) points.push(p);
      return reply(200, { result: { operation_id: points.length, status: 'completed' }, status: 'ok', time: 0.001 });
    }
    if (m[2] === '/search' && req.method === 'POST') {
      const scored = points.map((p) => ({ id: p.id, version: 0, score: cosine(json.vector, p.vector), payload: json.with_payload === true ? p.payload : undefined }));
      scored.sort((a, b) => b.score - a.score);
      return reply(200, { result: scored.slice(0, json.limit ?? 10), status: 'ok', time: 0.001 });
    }
    return reply(405, { status: { error: 'method not allowed' } });
  });
  return { port: Number(new URL(server.url).port), points: (c) => stored.get(c) ?? [], requests, close: () => closeServer(server.server) };
}

function cosine(a: number[], b: number[]): number {
  let dot = 0; let na = 0; let nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i]! * b[i]!; na += a[i]! ** 2; nb += b[i]! ** 2; }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function closeServer(server: import('node:http').Server): Promise<void> {
  return new Promise((res) => { server.closeAllConnections(); server.close(() => res()); });
}
