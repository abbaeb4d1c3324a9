// ai-proxy: APISIX's ai-proxy. The route's requests go to a model provider (OpenAI, DeepSeek,
// Azure OpenAI, Qwen, Ollama, Anthropic, any OpenAI-compatible server) with the configured auth,
// model and options; the provider's adapter converts what its wire format needs. It does not
// call the provider itself: it rewrites the request (body, headers, method, path) and hands the
// data plane an inline upstream built once per configuration, so answers, streamed ones
// included, come back through the normal proxy path with backpressure and every response-side
// plugin sees them. On the way it reads the answer for the tokens used, shared with later AI
// plugins through src/ai/context/context.ts and logged as APISIX's llm_* variables. The work is in
// src/ai/proxy/proxy.ts, shared with the plugins that choose among several providers. With
// ai-rate-limiting on the route, the budget of instance `ai-proxy-<provider>` is asked first
// (src/ai/proxy/budget-gate.ts): spent, the request gets ai-rate-limiting's rejection.
import type { UpstreamChoice } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { checkedInlineUpstream } from '../plugin-runtime/upstream-check.js';
import { aiRequestCounter } from '../ai/context/observe.js';
import {
  AI_PROXY_VARIABLES, CALL_SCHEMA_PROPERTIES, PROVIDER_SCHEMA_PROPERTIES, providerResponsePhases,
  prepareProvider, readAiRequest, sendToProvider, type PreparedProvider, type ProviderConf,
} from '../ai/proxy/proxy.js';
import { aiProxyInstanceName, budgetGate } from '../ai/proxy/budget-gate.js';

export interface AiProxyConf extends ProviderConf {
  logging: { summaries: boolean; payloads: boolean };
  max_req_body_size?: number;
}

interface AiProxyPrepared {
  provider: PreparedProvider;
  /** The instance name ai-rate-limiting's budgets know it by. */
  budgetName: string;
  upstream: UpstreamChoice;
  maxBodySize: number | undefined;
  logging: AiProxyConf['logging'];
}

const SENT = 'ai-proxy.sent';

for (const name of AI_PROXY_VARIABLES) registerVariable(name);

const countRequest = aiRequestCounter('gatehouse_ai_proxy_requests_total',
  'Requests ai-proxy sent to a provider, by route, provider, model and response status.');

export default definePlugin<AiProxyConf, AiProxyPrepared>({
  name: 'ai-proxy',
  description: 'Proxies OpenAI-style chat and embeddings requests to a model provider, with its auth, model and options, streaming answers through.',
  version: '0.1',
  stage: 'default',
  priority: 110,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...PROVIDER_SCHEMA_PROPERTIES,
      ...CALL_SCHEMA_PROPERTIES,
    },
    required: ['provider', 'auth'],
  },

  prepare(conf) {
    const provider = prepareProvider(conf);
    return {
      provider,
      budgetName: aiProxyInstanceName(conf.provider),
      upstream: { upstream: checkedInlineUpstream(provider.target.upstreamConf, 'override.endpoint') },
      maxBodySize: conf.max_req_body_size,
      logging: { summaries: conf.logging?.summaries ?? false, payloads: conf.logging?.payloads ?? false },
    };
  },

  async access(p, ctx) {
    const request = await readAiRequest(ctx, p.maxBodySize);
    if ('status' in request) return request;
    const gate = budgetGate(ctx);
    if (gate !== undefined) {
      const refused = await gate.admit(p.budgetName);
      if (refused !== undefined) return refused;
    }
    const sent = sendToProvider(ctx, p.provider, p.upstream, request);
    if ('status' in sent) return sent;
    if (p.logging.payloads) ctx.shared.set(SENT, sent.sent);
    return undefined;
  },

  ...providerResponsePhases<AiProxyPrepared>(countRequest, SENT),
  // only a provider whose answers are converted (Anthropic's) changes the body
  keepsBodyLength: (p) => p.provider.adapter.responseConverter === undefined,
});
