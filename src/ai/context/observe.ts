// What the AI plugins report: a request counter labelled by provider and model, and the
// opt-in log lines of a call (APISIX's `logging.summaries` and `logging.payloads`).
import type { Counter } from 'prom-client';
import type { PluginContext } from '../../contracts/plugin.js';
import { counter } from '../../observability/metrics.js';
import type { AiContext } from './context.js';

/** Model names are client input: a label keeps at most this many characters. */
const MAX_MODEL_LABEL = 64;
/** The most characters of a request or answer a payload log line carries. */
export const MAX_LOGGED_PAYLOAD = 4096;

type AiLabels = 'route' | 'provider' | 'model' | 'status';

/** A counter by route, provider, model (as sent) and response status, created on first use. */
export function aiRequestCounter(name: string, help: string): (ctx: PluginContext, ai: AiContext, status: number) => void {
  let c: Counter<AiLabels> | undefined;
  return (ctx, ai, status) => {
    c ??= counter(name, help, ['route', 'provider', 'model', 'status']);
    const model = (ai.responseModel ?? ai.sentModel ?? '').slice(0, MAX_MODEL_LABEL);
    c.inc({ route: ctx.routeId ?? '', provider: ai.provider, model, status: String(status) });
  };
}

/**
 * One info line in the node's log per call: with `summaries` the provider, models, status,
 * duration and tokens; with `payloads` also the request body as sent and the answer's text
 * (each cut to MAX_LOGGED_PAYLOAD characters). `sentBody` is the request body as sent.
 */
export function logAiExchange(ctx: PluginContext, ai: AiContext, status: number,
  what: { summaries: boolean; payloads: boolean }, sentBody?: unknown): void {
  const entry: Record<string, unknown> = {
    route_id: ctx.routeId,
    provider: ai.provider,
    request_model: ai.requestModel,
    model: ai.responseModel ?? ai.sentModel,
    stream: ai.stream,
    status,
  };
  if (what.summaries) {
    entry.duration_ms = Math.round(performance.now() - ctx.startedAt);
    entry.time_to_first_token_ms = ai.timeToFirstTokenMs;
    entry.usage = ai.usage;
  }
  if (what.payloads) {
    entry.request = sentBody === undefined ? undefined : cut(JSON.stringify(sentBody));
    entry.response = cut(ai.answer);
  }
  ctx.log.info({ ai: entry }, 'ai call');
}

function cut(text: string): string {
  return text.length > MAX_LOGGED_PAYLOAD ? `${text.slice(0, MAX_LOGGED_PAYLOAD - 3)}...` : text;
}
