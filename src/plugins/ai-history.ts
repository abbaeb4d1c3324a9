// ai-history (Higress's): the last turns of each user's conversation, kept in Redis at
// `cacheKeyPrefix` + the identity, put in front of a chat request that carries a single
// user message, so a client may send only its new question. The identity is the
// `identityHeader` request header (default Authorization) with its spaces removed; it is
// hashed (SHA-256) into the key, as a bearer token has no business in Redis keys or in a
// Redis dump, and one identity only ever reads its own history. A path containing
// `ai-history/query` answers the caller's own history (`cnt`: the last turns only).
//
// The answer (the AI context's text: ai-proxy's, or read here from a plain upstream,
// streamed answers joined, at most MAX_ANSWER_CHARS) is stored with its question once the
// response ended with 200, and the history trimmed to `fillHistoryCnt` turns and to
// MAX_HISTORY_CHARS (the oldest turns go first).
//
// Where: with `redis` (Higress requires it), in that server, a history read by every node;
// a Redis that fails lets the request go on without history, as in Higress, and is logged.
// Without `redis` (not in Higress), in the node's memory: the primary's ai-history table
// (src/ai/cache/answer-store.ts), shared by all the node's workers over IPC so a follow-up
// question landing on another worker finds its history, bounded (entries and characters,
// least recently used first) and expiring after `cacheTTL`. Each node of a cluster then
// keeps its own histories, and a restart forgets them.
import { createHash } from 'node:crypto';
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { RedisCounterStore, type RedisTarget } from '../counters/index.js';
import { memoryAnswerStore, type AnswerStore } from '../ai/cache/answer-store.js';
import { HIGRESS_REDIS_SCHEMA, higressRedisTarget } from './common/higress-redis.js';
import { routeCounter } from './common/observe.js';
import { readJsonBody, writeJsonBody } from '../ai/protocol/json-body.js';
import { MAX_ANSWER_CHARS } from '../ai/context/context.js';
import { watchAiChunk, watchAiResponse, watchedAiContext } from '../ai/context/usage-watch.js';

export interface AiHistoryConf {
  identityHeader?: string;
  fillHistoryCnt?: number;
  cacheKeyPrefix?: string;
  cacheTTL?: number;
  redis?: {
    serviceName: string;
    servicePort?: number;
    username?: string;
    password?: string;
    timeout?: number;
    database?: number;
  };
}

interface Prepared {
  identityHeader: string;
  fillTurns: number;
  prefix: string;
  ttlSeconds: number;
  /** undefined: the node's memory table. */
  target: RedisTarget | undefined;
  store: AnswerStore | undefined;
}

interface Turn { role: string; content: string }

interface Pending { key: string; question: string; history: Turn[] }

const PENDING = 'ai-history.pending';
/** The most characters of JSON one identity's history is stored as. */
export const MAX_HISTORY_CHARS = 256 * 1024;

/** How many turns of history were put in front of the request's messages (0: none). */
registerVariable('ai_history_filled');

const countSaved = routeCounter('gatehouse_ai_history_saved_total', 'Question and answer pairs ai-history stored, by route');

const { properties: redisFields } = HIGRESS_REDIS_SCHEMA;

export default definePlugin<AiHistoryConf, Prepared>({
  name: 'ai-history',
  description: 'Keeps the last turns of each user\'s conversation (in Redis or the node\'s memory) and puts them in front of a new question, with a query path.',
  version: '0.1',
  stage: 'default',
  priority: 650,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      identityHeader: { type: 'string', pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', default: 'Authorization' },
      fillHistoryCnt: { type: 'integer', minimum: 1, maximum: 100, default: 3, description: 'turns put in front and kept' },
      cacheKeyPrefix: { type: 'string', minLength: 1, default: 'higress-ai-history:' },
      cacheTTL: { type: 'integer', minimum: 0, default: 0, description: 'seconds a history is kept; 0: no expiry' },
      redis: {
        type: 'object', additionalProperties: false,
        properties: {
          serviceName: redisFields.service_name, servicePort: redisFields.service_port, username: redisFields.username,
          password: redisFields.password, timeout: redisFields.timeout, database: redisFields.database,
        },
        required: ['serviceName'],
        description: 'absent: the node\'s memory',
      },
    },
  },

  prepare(conf) {
    const r = conf.redis;
    return {
      identityHeader: (conf.identityHeader ?? 'Authorization').toLowerCase(),
      fillTurns: conf.fillHistoryCnt ?? 3,
      prefix: conf.cacheKeyPrefix ?? 'higress-ai-history:',
      ttlSeconds: conf.cacheTTL ?? 0,
      store: undefined,
      target: r === undefined ? undefined : higressRedisTarget({
        service_name: r.serviceName, service_port: r.servicePort, username: r.username, password: r.password,
        timeout: r.timeout, database: r.database,
      }, 'redis.serviceName'),
    };
  },

  async access(p, ctx) {
    const identity = (ctx.request.header(p.identityHeader) ?? '').replaceAll(' ', '');
    if (identity === '') return undefined;
    const key = p.prefix + createHash('sha256').update(identity).digest('hex');
    if (ctx.request.uri.includes('ai-history/query')) return query(p, ctx, key);
    const contentType = ctx.request.header('content-type') ?? '';
    if (!contentType.toLowerCase().includes('application/json')) return undefined;
    const body = await readJsonBody(ctx);
    if (!body.ok || !Array.isArray(body.json.messages)) return undefined;
    const messages = body.json.messages as unknown[];
    const last = messages[messages.length - 1] as Record<string, unknown> | undefined;
    if (typeof last?.content !== 'string' || last.content === '') return undefined;
    let history: Turn[];
    try {
      history = await read(p, key);
    } catch (err) {
      ctx.log.error({ plugin: 'ai-history', route_id: ctx.routeId }, `ai-history could not read a history: ${(err as Error).message}`);
      return undefined;
    }
    ctx.shared.set(PENDING, { key, question: last.content.slice(0, MAX_ANSWER_CHARS), history } satisfies Pending);
    const users = messages.filter((m) => (m as Record<string, unknown> | null)?.role === 'user').length;
    if (users > 1 || history.length === 0) {
      ctx.setVar('ai_history_filled', 0);
      return undefined;
    }
    const fill = lastTurns(history, turnsArg(ctx, 'fill_history_cnt', p.fillTurns));
    writeJsonBody(ctx, { ...body.json, messages: [...fill, ...messages] });
    ctx.setVar('ai_history_filled', fill.length / 2);
    return undefined;
  },

  header_filter(_p, ctx) {
    if (ctx.shared.has(PENDING)) watchAiResponse(ctx, 'ai-history');
  },

  filtersBody: () => true,
  keepsBodyLength: () => true,

  body_filter(_p, ctx, chunk, eof) {
    if (ctx.shared.has(PENDING)) watchAiChunk(ctx, 'ai-history', chunk, eof);
    return undefined;
  },

  log(p, ctx) {
    const pending = ctx.shared.get(PENDING) as Pending | undefined;
    if (pending === undefined || ctx.response.status !== 200) return;
    const answer = watchedAiContext(ctx)?.answer ?? '';
    if (answer === '') return;
    const value = boundedJson(lastTurns([...pending.history, { role: 'user', content: pending.question }, { role: 'assistant', content: answer }], p.fillTurns));
    store(p).set(pending.key, value, p.ttlSeconds).then(() => countSaved(ctx), (err: unknown) => {
      ctx.log.error({ plugin: 'ai-history', route_id: ctx.routeId }, `ai-history could not save a history: ${(err as Error).message}`);
    });
  },
});

function store(p: Prepared): AnswerStore {
  return p.store ??= p.target === undefined ? memoryAnswerStore('ai-history') : redisHistories(new RedisCounterStore(p.target));
}

/** Redis as a history store; unlike ai-cache's, its errors reach the caller (the query path answers 503). */
function redisHistories(redis: RedisCounterStore): AnswerStore {
  return {
    get: async (key) => (await redis.command('a history lookup', (c) => c.get(key))) ?? undefined,
    set: (key, value, ttlSeconds) => redis.command('a history save', async (c) => {
      await (ttlSeconds > 0 ? c.set(key, value, 'EX', ttlSeconds) : c.set(key, value));
    }),
  };
}

/** The history as JSON, its oldest turns dropped until it fits MAX_HISTORY_CHARS. */
function boundedJson(history: Turn[]): string {
  let value = JSON.stringify(history);
  for (let from = 2; value.length > MAX_HISTORY_CHARS && from <= history.length; from += 2) value = JSON.stringify(history.slice(from));
  return value;
}

/** The stored history: `[{role, content}]`; anything else stored there reads as none. */
async function read(p: Prepared, key: string): Promise<Turn[]> {
  const text = await store(p).get(key);
  if (text === undefined) return [];
  try {
    const v: unknown = JSON.parse(text);
    if (!Array.isArray(v)) return [];
    return v.filter((t): t is Turn => typeof (t as Turn | null)?.role === 'string' && typeof (t as Turn).content === 'string');
  } catch {
    return [];
  }
}

async function query(p: Prepared, ctx: PluginContext, key: string): Promise<PhaseResult> {
  let history: Turn[];
  try {
    history = await read(p, key);
  } catch (err) {
    return { status: 503, headers: { 'content-type': 'text/plain' }, body: `redis error:${(err as Error).message}` }; // only Redis throws
  }
  const turns = turnsArg(ctx, 'cnt', Math.floor(history.length / 2));
  return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(lastTurns(history, turns)) };
}

/** The last `turns` turns (a user message and its answer each). */
function lastTurns(history: Turn[], turns: number): Turn[] {
  const n = Math.min(history.length, Math.max(0, turns) * 2);
  return n === 0 ? [] : history.slice(history.length - n);
}

/** A turn count from the query (Higress: `cnt`, `fill_history_cnt`); `fallback` when absent or not an integer. */
function turnsArg(ctx: PluginContext, name: string, fallback: number): number {
  const text = ctx.request.arg(name);
  return text !== undefined && /^\d{1,4}$/.test(text) ? Number(text) : fallback;
}
