// What Higress's key-rate-limit and cluster-key-rate-limit share: a `limit_keys` entry
// (`key` and one of `query_per_second|minute|hour|day`), read into a count per window,
// and the query parameter lookup of `limit_by_param`.
import type { PluginContext } from '../../contracts/plugin.js';

/** The units in Higress's order: the first one set (and > 0) counts. */
const UNITS = [
  ['query_per_second', 1],
  ['query_per_minute', 60],
  ['query_per_hour', 3_600],
  ['query_per_day', 86_400],
] as const;

export type LimitKeyEntry = { key: string } & Partial<Record<(typeof UNITS)[number][0], number>>;

export interface KeyQuota {
  count: number;
  windowSeconds: number;
}

const UNIT_SCHEMA = { type: 'integer', minimum: 0 } as const;

/** The schema of one `limit_keys` entry; `key` as `keySchema` says. */
export function limitKeyEntrySchema(keySchema: Record<string, unknown>, unit: LimitUnit = 'query'): Record<string, unknown> {
  return {
    type: 'object',
    properties: { key: keySchema, ...Object.fromEntries(UNITS.map(([name]) => [unitName(name, unit), UNIT_SCHEMA])) },
    required: ['key'],
    additionalProperties: false,
  };
}

/** The threshold of an entry (or of `global_threshold`): its first unit > 0; throws naming `field` when none is. */
export function keyQuota(entry: Partial<Record<string, unknown>>, field: string, unit: LimitUnit = 'query'): KeyQuota {
  for (const [name, windowSeconds] of UNITS) {
    const count = entry[unitName(name, unit)];
    if (typeof count === 'number' && count > 0) return { count, windowSeconds };
  }
  throw new Error(`${field}: one of ${unit}_per_second, ${unit}_per_minute, ${unit}_per_hour or ${unit}_per_day must be set (> 0)`);
}

/** What a limit counts: requests (`query_per_*`) or an AI call's tokens (ai-token-ratelimit's `token_per_*`). */
export type LimitUnit = 'query' | 'token';

function unitName(queryName: string, unit: LimitUnit): string {
  return unit === 'query' ? queryName : queryName.replace('query_', `${unit}_`);
}

/**
 * The first value of query parameter `name` as the client sent it (not decoded, as
 * Higress's C++ plugins read it), undefined when absent.
 */
export function rawQueryParam(ctx: PluginContext, name: string): string | undefined {
  const args = ctx.var('args');
  if (typeof args !== 'string' || args === '') return undefined;
  for (const pair of args.split('&')) {
    const eq = pair.indexOf('=');
    if ((eq < 0 ? pair : pair.slice(0, eq)) === name) return eq < 0 ? '' : pair.slice(eq + 1);
  }
  return undefined;
}

/** The first value of query parameter `name`, decoded (Go's url.ParseQuery, as Higress's Go plugins read it). */
export function decodedQueryParam(ctx: PluginContext, name: string): string | undefined {
  const args = ctx.var('args');
  if (typeof args !== 'string' || args === '') return undefined;
  return new URLSearchParams(args).get(name) ?? undefined;
}
