// ai-statistics: Higress's LLM statistics. For each AI call it reports the tokens used (from
// the JSON answer or from the streamed events as they pass), the time to the first token and
// the whole call's duration, per route, consumer and model: Prometheus series and access-log
// variables (Higress's log field names), plus the configured `attributes`. It never changes or
// refuses a request. Behind ai-proxy it reads the AI context ai-proxy keeps (src/ai/context/context.ts);
// on a route whose plain upstream is the model it starts the same observation itself.
import type { Counter, Histogram } from 'prom-client';
import type { PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { counter, histogram } from '../observability/metrics.js';
import { aiContext, type AiContext } from '../ai/context/context.js';
import { watchAiChunk, watchAiResponse, watchedAiContext } from '../ai/context/usage-watch.js';
import { isJsonContentType, readJsonBody, type JsonObject } from '../ai/protocol/json-body.js';
import {
  ATTRIBUTE_SCHEMA, AttributeValues, compileAttributes, type Attribute, type AttributeConf,
} from '../ai/context/statistics-attributes.js';

export interface AiStatisticsConf {
  attributes?: AttributeConf[];
  use_default_attributes: boolean;
  value_length_limit: number;
  enable_path_suffixes?: string[];
  enable_content_types?: string[];
  session_id_header?: string;
  disable_openai_usage: boolean;
}

interface AiStatisticsPrepared {
  attributes: Attribute[];
  valueLimit: number;
  pathSuffixes: string[] | undefined;
  contentTypes: string[] | undefined;
  sessionHeaders: string[];
  readUsage: boolean;
}

interface RequestState {
  values: AttributeValues;
  requestModel: string | undefined;
  endedAt?: number;
}

/** Higress's session headers, tried in order when `session_id_header` is not set. */
const SESSION_HEADERS = ['x-openclaw-session-key', 'x-clawdbot-session-key', 'x-moltbot-session-key', 'x-agent-session'];
/** Model names are client input: a label keeps this many characters, and a node labels this many distinct models, the rest `other`. */
const MAX_MODEL_LABEL = 64;
const MAX_MODEL_LABELS = 200;
const STATE = 'ai-statistics.state';

export const AI_STATISTICS_VARIABLES = ['ai_model', 'ai_input_token', 'ai_output_token', 'ai_total_token',
  'ai_llm_first_token_duration', 'ai_llm_service_duration', 'ai_response_type', 'ai_session_id', 'ai_log'] as const;
for (const name of AI_STATISTICS_VARIABLES) registerVariable(name);

type Labels = 'route' | 'consumer' | 'model';
const LABELS: readonly Labels[] = ['route', 'consumer', 'model'];
const MS_BUCKETS = [10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000];
let series: {
  input: Counter<Labels>; output: Counter<Labels>; total: Counter<Labels>;
  firstToken: Histogram<Labels>; duration: Histogram<Labels>;
} | undefined;
const modelLabels = new Set<string>();

export default definePlugin<AiStatisticsConf, AiStatisticsPrepared>({
  name: 'ai-statistics',
  description: 'Reports LLM token usage, time to first token and call duration per route, consumer and model as metrics and log fields.',
  version: '0.1',
  stage: 'default',
  priority: 990,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      attributes: { type: 'array', items: ATTRIBUTE_SCHEMA, maxItems: 64 },
      use_default_attributes: { type: 'boolean', default: false },
      value_length_limit: { type: 'integer', minimum: 1, maximum: 1048576, default: 4000 },
      enable_path_suffixes: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 256 }, maxItems: 64 },
      enable_content_types: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 128 }, maxItems: 32 },
      session_id_header: { type: 'string', minLength: 1, maxLength: 256 },
      disable_openai_usage: { type: 'boolean', default: false },
    },
  },

  prepare(conf) {
    const attributes = compileAttributes(conf.attributes ?? []);
    if (conf.use_default_attributes) {
      for (const key of ['question', 'answer'] as const) {
        if (!attributes.some((a) => a.key === key)) attributes.push({ key, source: key });
      }
    }
    const suffixes = conf.enable_path_suffixes;
    const types = conf.enable_content_types;
    return {
      attributes,
      valueLimit: conf.value_length_limit ?? 4000,
      pathSuffixes: suffixes === undefined || suffixes.length === 0 || suffixes.includes('*') ? undefined : suffixes,
      contentTypes: types === undefined || types.length === 0 || types.includes('*') ? undefined : types.map((t) => t.toLowerCase()),
      sessionHeaders: conf.session_id_header !== undefined ? [conf.session_id_header.toLowerCase()] : SESSION_HEADERS,
      readUsage: !(conf.disable_openai_usage ?? false),
    };
  },

  async access(p, ctx) {
    if (p.pathSuffixes !== undefined && !p.pathSuffixes.some((s) => ctx.request.uri.endsWith(s))) return;
    let body: JsonObject | undefined;
    if (isJsonContentType(ctx.request.header('content-type'))) {
      const read = await readJsonBody(ctx);
      if (read.ok) body = read.json;
    }
    const state: RequestState = {
      values: new AttributeValues(p.attributes, p.valueLimit),
      requestModel: typeof body?.model === 'string' ? body.model : undefined,
    };
    state.values.request(ctx, body);
    ctx.shared.set(STATE, state);
    const session = p.sessionHeaders.map((h) => ctx.request.header(h)).find((v) => v !== undefined);
    if (session !== undefined) ctx.setVar('ai_session_id', session.slice(0, p.valueLimit));
    return undefined;
  },

  // Response phases run in reverse plugin order: ai-proxy (110) has started its observation here.
  header_filter(p, ctx) {
    const state = ctx.shared.get(STATE) as RequestState | undefined;
    if (state === undefined) return;
    const type = (ctx.response.header('content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (p.contentTypes !== undefined && !p.contentTypes.includes(type)) {
      ctx.shared.delete(STATE);
      return;
    }
    state.values.responseHeaders(ctx);
    watchAiResponse(ctx, 'ai-statistics');
    const ai = aiContext(ctx)!;
    // a plugin before this one may have started the context without the request's model
    ai.requestModel ??= state.requestModel;
    ai.sentModel ??= state.requestModel;
    if (p.attributes.length > 0) (ai.messageListeners ??= []).push((body, streamed) => state.values.message(body, streamed));
  },

  filtersBody: () => true,
  keepsBodyLength: () => true,

  body_filter(_p, ctx, chunk, eof) {
    const state = ctx.shared.get(STATE) as RequestState | undefined;
    if (state === undefined) return undefined;
    watchAiChunk(ctx, 'ai-statistics', chunk, eof);
    if (eof) state.endedAt ??= performance.now();
    return undefined;
  },

  log(p, ctx) {
    const state = ctx.shared.get(STATE) as RequestState | undefined;
    if (state === undefined) return;
    const ai = watchedAiContext(ctx);
    if (ai === undefined) return;
    const durationMs = Math.round((state.endedAt ?? performance.now()) - ctx.startedAt);
    state.values.finish(ai);
    report(p, ctx, ai, state, durationMs);
  },
});

function report(p: AiStatisticsPrepared, ctx: PluginContext, ai: AiContext, state: RequestState, durationMs: number): void {
  const model = (p.readUsage ? ai.responseModel ?? ai.sentModel : ai.sentModel) ?? '';
  const usage = p.readUsage ? ai.usage : undefined;
  const fields: Record<string, unknown> = { model, response_type: ai.stream ? 'stream' : 'normal', llm_service_duration: durationMs };
  if (usage !== undefined) Object.assign(fields, { input_token: usage.prompt, output_token: usage.completion, total_token: usage.total });
  if (ai.timeToFirstTokenMs !== undefined) fields.llm_first_token_duration = ai.timeToFirstTokenMs;
  for (const [key, value] of Object.entries(fields)) ctx.setVar(`ai_${key}`, value);
  for (const [key, value] of state.values.values) fields[key] = value;
  const session = ctx.var('ai_session_id');
  if (session !== undefined) fields.session_id = session;
  ctx.setVar('ai_log', JSON.stringify(fields));

  series ??= {
    input: counter('gatehouse_ai_input_tokens_total', 'Prompt tokens of AI calls, by route, consumer and model.', LABELS),
    output: counter('gatehouse_ai_output_tokens_total', 'Completion tokens of AI calls, by route, consumer and model.', LABELS),
    total: counter('gatehouse_ai_total_tokens_total', 'Total tokens of AI calls, by route, consumer and model.', LABELS),
    firstToken: histogram('gatehouse_ai_first_token_duration_ms', 'Time from the request to the first byte of the model\'s answer, ms.', LABELS, MS_BUCKETS),
    duration: histogram('gatehouse_ai_llm_service_duration_ms', 'Time from the request to the end of the model\'s answer, ms.', LABELS, MS_BUCKETS),
  };
  const labels = { route: ctx.routeId ?? '', consumer: ctx.consumer?.username ?? '', model: modelLabel(model) };
  if (usage !== undefined) {
    series.input.inc(labels, usage.prompt);
    series.output.inc(labels, usage.completion);
    series.total.inc(labels, usage.total);
  }
  if (ai.timeToFirstTokenMs !== undefined) series.firstToken.observe(labels, ai.timeToFirstTokenMs);
  series.duration.observe(labels, durationMs);
}

function modelLabel(model: string): string {
  const label = model.slice(0, MAX_MODEL_LABEL);
  if (modelLabels.has(label)) return label;
  if (modelLabels.size >= MAX_MODEL_LABELS) return 'other';
  modelLabels.add(label);
  return label;
}
