// ai-proxy-multi: APISIX's ai-proxy-multi. Like ai-proxy, but the route names several provider
// instances and each request goes to one of them: the highest priority group first, weighted
// round robin (or a hash of a request key) inside it. Each instance is prepared once per
// configuration, with its own inline upstream; the request is then rewritten and proxied
// exactly as ai-proxy does (src/ai/proxy/proxy.ts). With a fallback strategy, an instance's
// 429/5xx answer is dropped unseen by the data plane (PluginContext.retryOnStatus) and the
// buffered request goes to the next instance. An instance with `checks.active` is probed by
// the upstream health checker and skipped while it is down. With ai-rate-limiting on the
// route, the picked instance's token budget is asked (src/ai/proxy/budget-gate.ts): spent, the
// request is refused with its rejected_code, or under a rate-limiting fallback strategy
// (`instance_health_and_rate_limiting`, `rate_limiting`) spent instances are skipped like
// unhealthy ones. The semantic balancer is not built: refused by name.
import type { UpstreamChoice } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { checkedInlineUpstream } from '../plugin-runtime/upstream-check.js';
import { aiRequestCounter } from '../ai/context/observe.js';
import { InstancePicker, hashKeyReader, type HashOn } from '../ai/proxy/instance-picker.js';
import type { JsonObject } from '../ai/protocol/json-body.js';
import {
  AI_PROXY_VARIABLES, CALL_SCHEMA_PROPERTIES, PROVIDER_SCHEMA_PROPERTIES, providerResponsePhases,
  prepareProvider, readAiRequest, sendToProvider, type AiRequest, type PreparedProvider, type ProviderConf,
} from '../ai/proxy/proxy.js';
import type { PluginContext } from '../contracts/plugin.js';
import { counter } from '../observability/metrics.js';
import {
  FALLBACK_SCHEMA_PROPERTIES, fallbackPolicy, skipsSpentInstances, type FallbackConf, type FallbackPolicy,
} from '../ai/proxy/fallback.js';
import { budgetGate, type AiBudgetGate } from '../ai/proxy/budget-gate.js';

type Transport = Pick<ProviderConf, 'timeout' | 'keepalive' | 'keepalive_timeout' | 'keepalive_pool' | 'ssl_verify'>;

interface InstanceConf extends Pick<ProviderConf, 'provider' | 'auth' | 'options' | 'override'> {
  name: string;
  weight: number;
  priority: number;
  checks?: { active: Record<string, unknown> };
}

export interface AiProxyMultiConf extends Transport, FallbackConf {
  instances: InstanceConf[];
  balancer: { algorithm: 'roundrobin' | 'chash' | 'semantic'; hash_on?: HashOn; key?: string };
  logging: { summaries: boolean; payloads: boolean };
  max_req_body_size?: number;
}

interface Instance {
  name: string;
  weight: number;
  priority: number;
  provider: PreparedProvider;
  upstream: UpstreamChoice;
  /** Health-checked (`checks.active`): asked about before it is used. */
  checked: boolean;
}

interface AiProxyMultiPrepared {
  picker: InstancePicker<Instance>;
  hashKey: ((ctx: PluginContext) => string) | undefined;
  fallback: FallbackPolicy | undefined;
  /** A rate-limiting fallback strategy: instances whose ai-rate-limiting budget is spent are skipped. */
  skipSpent: boolean;
  /** The instances as the picker has them, for the budget gate. */
  instances: Instance[];
  /** Every header name some instance sets: restored to the client's before a retry goes to another instance. */
  providerHeaders: string[];
  maxBodySize: number | undefined;
  logging: AiProxyMultiConf['logging'];
}

const SENT = 'ai-proxy-multi.sent';
const INSTANCE_VAR = 'ai_proxy_multi_instance';

for (const name of [...AI_PROXY_VARIABLES, INSTANCE_VAR]) registerVariable(name);

const countRequest = aiRequestCounter('gatehouse_ai_proxy_multi_requests_total',
  'Requests ai-proxy-multi sent to a provider, by route, provider, model and response status.');

const { provider, auth, options, override, ...TRANSPORT_PROPERTIES } = PROVIDER_SCHEMA_PROPERTIES;

const countFallback = (() => {
  let c: ReturnType<typeof counter<'route' | 'from' | 'to' | 'status'>> | undefined;
  return (ctx: PluginContext, from: Instance, to: Instance, status: number): void => {
    c ??= counter('gatehouse_ai_proxy_multi_fallbacks_total',
      'Answers ai-proxy-multi dropped to send the request to another instance, by route, instances and status.', ['route', 'from', 'to', 'status']);
    c.inc({ route: ctx.routeId ?? '', from: from.name, to: to.name, status: String(status) });
  };
})();

// accepted by APISIX, not built here: a configuration naming them is refused (see prepare)
const UNBUILT_FIELDS = ['semantic_opts'];
const UNBUILT_INSTANCE_FIELDS = ['provider_conf', 'examples', 'threshold'];
const anyValue = {};

export default definePlugin<AiProxyMultiConf, AiProxyMultiPrepared>({
  name: 'ai-proxy-multi',
  description: 'Proxies OpenAI-style requests to one of several model provider instances, by priority and weight (or a request key).',
  version: '0.1',
  stage: 'default',
  // just before ai-proxy (110), as APISIX's 1041 is to ai-proxy's 1040
  priority: 111,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      instances: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 100 },
            provider, auth, options, override,
            weight: { type: 'integer', minimum: 0 },
            priority: { type: 'integer', default: 0 },
            // the upstream's active check (its schema is checked with the instance's upstream)
            checks: { type: 'object', additionalProperties: false, properties: { active: { type: 'object' } }, required: ['active'] },
            ...Object.fromEntries(UNBUILT_INSTANCE_FIELDS.map((f) => [f, anyValue])),
          },
          required: ['name', 'provider', 'auth', 'weight'],
        },
      },
      balancer: {
        type: 'object',
        additionalProperties: false,
        properties: {
          algorithm: { type: 'string', enum: ['roundrobin', 'chash', 'semantic'], default: 'roundrobin' },
          hash_on: { type: 'string', enum: ['vars', 'header', 'cookie', 'consumer', 'vars_combinations'] },
          key: { type: 'string' },
        },
        default: { algorithm: 'roundrobin' },
      },
      ...TRANSPORT_PROPERTIES,
      ...CALL_SCHEMA_PROPERTIES,
      ...FALLBACK_SCHEMA_PROPERTIES,
      ...Object.fromEntries(UNBUILT_FIELDS.map((f) => [f, anyValue])),
    },
    required: ['instances'],
  },

  prepare(conf) {
    const raw = conf as unknown as JsonObject;
    for (const field of UNBUILT_FIELDS) {
      if (raw[field] !== undefined) throw new Error(`${field}: not built yet in Gatehouse (the semantic balancer)`);
    }
    const names = new Set<string>();
    const instances = conf.instances.map((inst, i): Instance => {
      const at = `instances[${i}]`;
      for (const field of UNBUILT_INSTANCE_FIELDS) {
        if ((inst as unknown as JsonObject)[field] !== undefined) throw new Error(`${at}.${field}: not built yet in Gatehouse`);
      }
      if (names.has(inst.name)) throw new Error(`${at}.name: duplicate instance name ${inst.name}`);
      names.add(inst.name);
      let prepared: PreparedProvider;
      try {
        prepared = prepareProvider({ ...transportOf(conf), ...inst });
      } catch (e) {
        throw new Error(`${at}.${e instanceof Error ? e.message : String(e)}`);
      }
      const upstreamConf = inst.checks === undefined ? prepared.target.upstreamConf : { ...prepared.target.upstreamConf, checks: inst.checks };
      const upstream = { upstream: checkedInlineUpstream(upstreamConf, inst.checks === undefined ? `${at}.override.endpoint` : at) };
      return { name: inst.name, weight: inst.weight, priority: inst.priority ?? 0, provider: prepared, upstream, checked: inst.checks !== undefined };
    });
    // a lone instance is used whatever its weight
    const pickable = instances.length === 1 ? [{ ...instances[0]!, weight: 1 }] : instances;
    return {
      picker: new InstancePicker(pickable),
      hashKey: balancerHashKey(conf.balancer ?? { algorithm: 'roundrobin' }),
      fallback: fallbackPolicy(conf),
      skipSpent: skipsSpentInstances(conf),
      instances: pickable,
      providerHeaders: [...new Set(instances.flatMap((i) => [...i.provider.headers, ...i.provider.defaultHeaders].map(([name]) => name)))],
      maxBodySize: conf.max_req_body_size,
      logging: { summaries: conf.logging?.summaries ?? false, payloads: conf.logging?.payloads ?? false },
    };
  },

  async access(p, ctx) {
    const request = await readAiRequest(ctx, p.maxBodySize);
    if ('status' in request) return request;
    const key = p.hashKey?.(ctx);
    const gate = budgetGate(ctx);
    // a lone instance is used as it is: its spent budget is refused by admit (APISIX)
    const spent = gate !== undefined && p.skipSpent && p.instances.length > 1 ? await spentInstances(p, gate) : undefined;
    const instance = pickUsable(p, ctx, key, spent === undefined ? undefined : new Set(spent));
    if (instance === undefined) return { status: 503, body: 'all servers tried', headers: { 'content-type': 'text/plain; charset=utf-8' } };
    if (gate !== undefined) {
      const refused = await gate.admit(instance.name);
      if (refused !== undefined) return refused;
    }
    if (p.fallback !== undefined) fallBackOnStatus(p, p.fallback, ctx, request, key, instance, spent, gate);
    const sent = sendToInstance(p, ctx, instance, request);
    return 'status' in sent ? sent : undefined;
  },

  ...providerResponsePhases<AiProxyMultiPrepared>(countRequest, SENT),
  // an Anthropic instance converts its answers, changing the body's length
  keepsBodyLength: () => false,
});

function pick(p: AiProxyMultiPrepared, key: string | undefined, tried: ReadonlySet<Instance> | undefined): Instance | undefined {
  return key === undefined ? p.picker.next(tried) : p.picker.byHash(key, tried);
}

/** The instances whose budget is spent, as Instance objects (skipped like tried ones). */
async function spentInstances(p: AiProxyMultiPrepared, gate: AiBudgetGate): Promise<Instance[]> {
  const names = await gate.spent(p.instances.map((i) => i.name));
  return names.size === 0 ? [] : p.instances.filter((i) => names.has(i.name));
}

/** The next instance not in `tried` whose health checks (if it has any) do not mark it down; `tried` gets the skipped ones. */
function pickUsable(p: AiProxyMultiPrepared, ctx: PluginContext, key: string | undefined, tried: Set<Instance> | undefined): Instance | undefined {
  for (;;) {
    const instance = pick(p, key, tried);
    if (instance === undefined || !instance.checked || ctx.upstreamHealthy?.(instance.upstream) !== false) return instance;
    (tried ??= new Set()).add(instance);
  }
}

function sendToInstance(p: AiProxyMultiPrepared, ctx: PluginContext, instance: Instance, request: AiRequest): ReturnType<typeof sendToProvider> {
  const sent = sendToProvider(ctx, instance.provider, instance.upstream, request);
  if ('status' in sent) return sent;
  ctx.setVar(INSTANCE_VAR, instance.name);
  if (p.logging.payloads) ctx.shared.set(SENT, sent.sent);
  return sent;
}

/**
 * Asks the data plane to hand back an answer the policy retries: the request, as the client
 * sent it (path, query and the headers the instances set), is then rewritten for the next
 * instance not tried yet, lower priorities once the group is spent.
 */
function fallBackOnStatus(p: AiProxyMultiPrepared, policy: FallbackPolicy, ctx: PluginContext, request: AiRequest,
  key: string | undefined, first: Instance, spent: readonly Instance[] | undefined, gate: AiBudgetGate | undefined): void {
  if (ctx.retryOnStatus === undefined) return;
  const clientUri = ctx.request.upstreamUri;
  const clientHeaders = p.providerHeaders.map((name) => [name, ctx.request.header(name)] as const);
  const tried = new Set([first, ...(spent ?? [])]);
  let retries = 0;
  let current = first;
  let attemptStart = performance.now();
  ctx.retryOnStatus((status) => {
    if (!policy.retriesOn(status)) return false;
    if (policy.maxRetries !== undefined && retries >= policy.maxRetries) return false;
    if (policy.withinMs !== undefined && performance.now() - attemptStart > policy.withinMs) return false;
    const next = pickUsable(p, ctx, key, tried);
    if (next === undefined) return false;
    tried.add(next);
    retries++;
    ctx.request.upstreamUri = clientUri;
    for (const [name, value] of clientHeaders) ctx.request.setHeader(name, value);
    if ('status' in sendToInstance(p, ctx, next, request)) return false;
    gate?.movedTo(next.name);
    countFallback(ctx, current, next, status);
    current = next;
    attemptStart = performance.now();
    return true;
  });
}

function transportOf(conf: AiProxyMultiConf): Transport {
  const { timeout, keepalive, keepalive_timeout, keepalive_pool, ssl_verify } = conf;
  return { timeout, keepalive, keepalive_timeout, keepalive_pool, ssl_verify };
}

function balancerHashKey(b: AiProxyMultiConf['balancer']): ((ctx: PluginContext) => string) | undefined {
  if (b.algorithm === 'semantic') throw new Error('balancer.algorithm: semantic is not built yet in Gatehouse (roundrobin, chash)');
  if (b.algorithm !== 'chash') return undefined;
  if (b.hash_on === undefined) throw new Error('balancer.hash_on: must configure `hash_on` when balancer algorithm is chash');
  if (b.key === undefined && b.hash_on !== 'consumer') {
    throw new Error('balancer.key: must configure `key` when balancer `hash_on` is not consumer');
  }
  return hashKeyReader(b.hash_on, b.key ?? '');
}
