// ai-proxy-multi's fallback: which answers of an instance send the request on to another one
// (APISIX's fallback_strategy and fallback_http_statuses), and how many times and how late.
import type { JsonObject } from '../protocol/json-body.js';

export type FallbackStrategy = 'instance_health_and_rate_limiting' | 'rate_limiting' | 'http_429' | 'http_5xx';

export interface FallbackConf {
  fallback_strategy?: FallbackStrategy | FallbackStrategy[];
  fallback_http_statuses?: number[];
  max_retries?: number;
  retry_on_failure_within_ms?: number;
}

export interface FallbackPolicy {
  /** Whether an answer with this status goes to another instance. */
  retriesOn(status: number): boolean;
  /** Retries allowed per request (undefined: until every instance was tried). */
  maxRetries: number | undefined;
  /** A failed attempt that took longer than this (ms) is not retried. */
  withinMs: number | undefined;
}

/** The JSON Schema properties of FallbackConf. */
export const FALLBACK_SCHEMA_PROPERTIES: JsonObject = {
  fallback_strategy: {
    anyOf: [
      { type: 'string', enum: ['instance_health_and_rate_limiting', 'http_429', 'http_5xx'] },
      { type: 'array', uniqueItems: true, items: { type: 'string', enum: ['rate_limiting', 'http_429', 'http_5xx'] } },
    ],
  },
  fallback_http_statuses: { type: 'array', uniqueItems: true, items: { type: 'integer', minimum: 400, maximum: 599 } },
  max_retries: { type: 'integer', minimum: 0 },
  retry_on_failure_within_ms: { type: 'integer', minimum: 1 },
};

/** Whether `conf` asks to skip instances whose ai-rate-limiting budget is spent (`rate_limiting` strategies). */
export function skipsSpentInstances(conf: FallbackConf): boolean {
  const s = conf.fallback_strategy;
  return s === 'instance_health_and_rate_limiting' || (Array.isArray(s) && s.includes('rate_limiting'));
}

/** The policy `conf` asks for, undefined when no answer is retried. */
export function fallbackPolicy(conf: FallbackConf): FallbackPolicy | undefined {
  const strategies = conf.fallback_strategy === undefined ? []
    : Array.isArray(conf.fallback_strategy) ? conf.fallback_strategy : [conf.fallback_strategy];
  const on429 = strategies.includes('http_429');
  const on5xx = strategies.includes('http_5xx');
  const listed = new Set(conf.fallback_http_statuses ?? []);
  if (!on429 && !on5xx && listed.size === 0) {
    for (const field of ['max_retries', 'retry_on_failure_within_ms'] as const) {
      if (conf[field] !== undefined) throw new Error(`${field}: needs fallback_strategy http_429 or http_5xx, or fallback_http_statuses`);
    }
    return undefined;
  }
  return {
    retriesOn: (status) => (on429 && status === 429) || (on5xx && status >= 500 && status <= 599) || listed.has(status),
    maxRetries: conf.max_retries,
    withinMs: conf.retry_on_failure_within_ms,
  };
}
