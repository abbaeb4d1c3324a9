// ai-quota (Higress's): a token quota per consumer, kept in Redis under Higress's keys
// (`redis_key_prefix` + consumer name) so every gateway node draws from the same quota.
// A request whose path ends in `/v1/chat/completions` is refused (403) when the consumer's
// quota is missing or used up; the answer's prompt + completion tokens (from the AI
// context: ai-proxy's, or read here from a plain upstream, streamed answers too) are
// DECRBY'd once it ended. `…/v1/chat/completions<admin_path>` (query), `…/refresh` (SET)
// and `…/delta` (INCRBY/DECRBY) let `admin_consumer` read and change any quota.
//
// The consumer is the one the gateway's auth plugins identified (key-auth, jwt-auth…),
// never a request header: Higress reads `x-mse-consumer`, which its own auth plugins set,
// but a client here could send it, and pick whose quota it spends or act as the admin.
// Where: with `redis` (Higress requires it), in that server, one number for every node. A
// Redis error answers 503 `redis error:<e>` (Higress denies a chat request with 403 then; a
// 503 says what happened). Without `redis` (not in Higress), the node keeps the quotas: the
// primary's value book (src/counters/value-book.ts), reached by every worker over IPC and
// written through to `<data_dir>/ai-quota.db` (SQLite), so a restart neither loses nor resets
// a quota; its failure answers 503 `quota store error:<e>`. A node's quotas are its own, so
// in cluster mode (store etcd) `redis` is required: a quota must be one number for the
// whole deployment.
import type { Counter } from 'prom-client';
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { RedisCounterStore, valueStore } from '../counters/index.js';
import { pluginNodeLimits } from '../plugin-runtime/node-limits.js';
import { HIGRESS_REDIS_SCHEMA, higressRedisTarget, type HigressRedisConf } from './common/higress-redis.js';
import { counter } from '../observability/metrics.js';
import { routeCounter, setLoggedText } from './common/observe.js';
import { watchAiChunk, watchAiResponse, watchedAiContext } from '../ai/context/usage-watch.js';

export interface AiQuotaConf {
  redis_key_prefix?: string;
  admin_consumer: string;
  admin_path?: string;
  redis?: HigressRedisConf;
}

/** A quota store: Redis's or the node's; what fails rejects, named by `failure`. */
interface QuotaStore {
  /** The consumer's quota, null when none was ever set. */
  get(key: string): Promise<number | null>;
  set(key: string, quota: number): Promise<void>;
  add(key: string, by: number): Promise<void>;
  readonly failure: string;
}

interface Prepared {
  prefix: string;
  adminConsumer: string;
  adminPath: string;
  /** Created by the first request (the primary prepares configs only to validate them). */
  store: () => QuotaStore;
}

type Mode = 'chat' | 'query' | 'refresh' | 'delta' | undefined;

const CHAT_PATH = '/v1/chat/completions';
const CHARGED = 'ai-quota.consumer';
const DENIED = 'Request denied by ai quota check';

/** The consumer whose quota a chat request was checked against (and charged). */
registerVariable('ai_quota_consumer');
/** The tokens charged to that consumer once the answer ended (prompt + completion). */
registerVariable('ai_quota_tokens');

const countRejected = routeCounter('gatehouse_ai_quota_rejected_total',
  'Chat requests ai-quota refused because the consumer had no quota left, by route');
let tokensCharged: Counter<'route'> | undefined;

export default definePlugin<AiQuotaConf, Prepared>({
  name: 'ai-quota',
  description: 'Per-consumer token quota (in Redis, or kept by the node), charged with each answer\'s tokens, with admin paths to query, set and refill it.',
  version: '0.1',
  stage: 'default',
  priority: 750,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      redis_key_prefix: { type: 'string', minLength: 1, default: 'chat_quota:' },
      admin_consumer: { type: 'string', minLength: 1, description: 'the consumer (by username) allowed on the admin paths' },
      admin_path: { type: 'string', pattern: '^/[^?#]*$', default: '/quota', description: 'appended to /v1/chat/completions' },
      redis: { ...HIGRESS_REDIS_SCHEMA, description: 'absent: the node keeps the quotas (not in cluster mode)' },
    },
    required: ['admin_consumer'],
  },

  prepare(conf) {
    let store: () => QuotaStore;
    if (conf.redis !== undefined) {
      const target = higressRedisTarget(conf.redis);
      let redis: QuotaStore | undefined;
      store = () => redis ??= redisQuotas(new RedisCounterStore(target));
    } else if (pluginNodeLimits().clusterMode) {
      throw new Error('redis: ai-quota needs redis when the gateway runs in cluster mode (a node-local quota is not the deployment\'s)');
    } else {
      store = nodeQuotas;
    }
    return { prefix: conf.redis_key_prefix ?? 'chat_quota:', adminConsumer: conf.admin_consumer, adminPath: conf.admin_path ?? '/quota', store };
  },

  async access(p, ctx) {
    const mode = modeOf(ctx.request.uri, p.adminPath);
    if (mode === undefined) return undefined;
    const consumer = ctx.consumer?.username;
    if (consumer === undefined) return text(401, `${DENIED}. No Key Authentication information found.`);
    if (consumer === '') return text(403, `${DENIED}. Unauthorized consumer.`);
    if (mode === 'chat') return checkQuota(p, ctx, consumer);
    if (consumer !== p.adminConsumer) return text(403, `${DENIED}. Unauthorized admin consumer.`);
    if (mode === 'query') return queryQuota(p, ctx);
    return changeQuota(p, mode, new URLSearchParams((await ctx.request.body()).toString('utf8')));
  },

  header_filter(_p, ctx) {
    if (ctx.shared.has(CHARGED)) watchAiResponse(ctx, 'ai-quota');
  },

  filtersBody: () => true,
  keepsBodyLength: () => true,

  body_filter(_p, ctx, chunk, eof) {
    if (ctx.shared.has(CHARGED)) watchAiChunk(ctx, 'ai-quota', chunk, eof);
    return undefined;
  },

  log(p, ctx) {
    const consumer = ctx.shared.get(CHARGED) as string | undefined;
    if (consumer === undefined) return;
    const usage = watchedAiContext(ctx)?.usage;
    const tokens = usage === undefined ? 0 : usage.prompt + usage.completion;
    ctx.setVar('ai_quota_tokens', tokens);
    if (tokens <= 0) return;
    tokensCharged ??= counter('gatehouse_ai_quota_tokens_total', 'Tokens ai-quota charged to consumers\' quotas, by route', ['route']);
    tokensCharged.inc({ route: ctx.routeId ?? '' }, tokens);
    p.store().add(p.prefix + consumer, -tokens).catch((err: unknown) => {
      ctx.log.error({ plugin: 'ai-quota', route_id: ctx.routeId, consumer, tokens }, `ai-quota could not charge the tokens: ${message(err)}`);
    });
  },
});

/** Higress's modes, by the path's end (the admin paths first: they end in the chat path plus more). */
function modeOf(path: string, adminPath: string): Mode {
  const admin = CHAT_PATH + adminPath;
  if (path.endsWith(`${admin}/refresh`)) return 'refresh';
  if (path.endsWith(`${admin}/delta`)) return 'delta';
  if (path.endsWith(admin)) return 'query';
  if (path.endsWith(CHAT_PATH)) return 'chat';
  return undefined;
}

function redisQuotas(redis: RedisCounterStore): QuotaStore {
  return {
    failure: 'redis error',
    get: async (key) => {
      const text = await redis.command('a quota lookup', (c) => c.get(key));
      return text === null ? null : integerOf(text) ?? 0;
    },
    set: (key, quota) => redis.command('a quota refresh', async (c) => { await c.set(key, quota); }),
    add: (key, by) => redis.command('a quota change', async (c) => { await c.incrby(key, by); }),
  };
}

let node: QuotaStore | undefined;

/** The node's quotas: the primary's value book, a file in data_dir. */
function nodeQuotas(): QuotaStore {
  return node ??= {
    failure: 'quota store error',
    get: (key) => valueStore().getValue(key),
    set: (key, quota) => valueStore().setValue(key, quota),
    add: async (key, by) => { await valueStore().addValue(key, by); },
  };
}

async function checkQuota(p: Prepared, ctx: PluginContext, consumer: string): Promise<PhaseResult | undefined> {
  setLoggedText(ctx, 'ai_quota_consumer', consumer);
  const read = await readQuota(p, consumer);
  if ('refusal' in read) return read.refusal;
  const quota = read.quota;
  if (quota === null || !(quota > 0)) {
    countRejected(ctx);
    return text(403, `${DENIED}, No quota left`);
  }
  ctx.shared.set(CHARGED, consumer);
  return undefined;
}

async function queryQuota(p: Prepared, ctx: PluginContext): Promise<PhaseResult> {
  const consumer = ctx.request.arg('consumer') ?? '';
  if (consumer === '') return text(403, `${DENIED}. consumer can't be empty.`);
  const read = await readQuota(p, consumer);
  if ('refusal' in read) return read.refusal;
  const quota = read.quota;
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ consumer, quota: quota ?? 0 }) };
}

async function changeQuota(p: Prepared, mode: 'refresh' | 'delta', form: URLSearchParams): Promise<PhaseResult> {
  const field = mode === 'refresh' ? 'quota' : 'value';
  const consumer = form.get('consumer') ?? '';
  const amount = integerOf(form.get(field) ?? '');
  if (consumer === '' || amount === undefined) {
    return text(403, `${DENIED}. consumer can't be empty and ${field} must be integer.`);
  }
  const key = p.prefix + consumer;
  const store = p.store();
  try {
    await (mode === 'refresh' ? store.set(key, amount) : store.add(key, amount));
  } catch (err) {
    return storeError(store, err);
  }
  return text(200, `${mode} quota successful`);
}

/** Go's strconv.Atoi as Higress parses: an optional sign and digits, within the safe integers. */
function integerOf(s: string): number | undefined {
  if (!/^[+-]?\d{1,16}$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The consumer's quota (null: none set), or the 503 a failing store answers. */
async function readQuota(p: Prepared, consumer: string): Promise<{ quota: number | null } | { refusal: PhaseResult }> {
  const store = p.store();
  try {
    return { quota: await store.get(p.prefix + consumer) };
  } catch (err) {
    return { refusal: storeError(store, err) };
  }
}

function storeError(store: QuotaStore, err: unknown): PhaseResult {
  return text(503, `${store.failure}:${message(err)}`);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function text(status: number, body: string): PhaseResult {
  return { status, headers: { 'content-type': 'text/plain' }, body };
}
