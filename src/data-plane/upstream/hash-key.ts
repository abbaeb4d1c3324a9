import type { Upstream } from '../../contracts/resources.js';
import { logger, type Logger } from '../../core/logger.js';
import type { RequestVars } from '../request-vars.js';

/** At most one "key missing" warning per upstream in this interval; the rest are counted into the next one. */
export const MISSING_KEY_WARN_INTERVAL_MS = 10_000;

export interface HashKeyOptions {
  /** For the warning (`route 1`, `upstream 2`). */
  name?: string;
  logger?: Logger;
  warnIntervalMs?: number;
  now?: () => number;
}

function str(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}

/** The configured key's value for one request, undefined when the request does not have it. */
function keyReader(up: Upstream): (vars: RequestVars) => string | undefined {
  const key = up.key ?? 'remote_addr';
  switch (up.hash_on ?? 'vars') {
    case 'header': {
      const name = `http_${key.toLowerCase().replace(/-/g, '_')}`;
      return (v) => str(v.get(name));
    }
    case 'cookie': return (v) => v.cookie(key);
    case 'consumer': return (v) => str(v.get('consumer_name'));
    case 'vars_combinations': {
      // `$host$uri`-style template: each $name is a variable. Like APISIX, a template
      // none of whose variables resolved counts as missing.
      const parts = key.split(/(\$[a-zA-Z0-9_]+)/).filter((p) => p !== '');
      return (v) => {
        let out = '';
        let resolved = 0;
        for (const p of parts) {
          if (!p.startsWith('$')) { out += p; continue; }
          const value = str(v.get(p.slice(1)));
          if (value !== undefined) { resolved++; out += value; }
        }
        return resolved === 0 ? undefined : out;
      };
    }
    default: return (v) => str(v.get(key));
  }
}

/**
 * The chash key of a request, as APISIX's chash balancer resolves it: the configured
 * `hash_on`/`key`, or the client's address (`remote_addr`) when the request lacks it, so
 * keyless requests spread by client instead of all landing on one node. The fallback is
 * logged at warn, at most once per interval per upstream, with how many requests fell
 * back since the last line.
 */
export function hashKeyResolver(up: Upstream, opts: HashKeyOptions = {}): (vars: RequestVars) => string {
  const read = keyReader(up);
  const interval = opts.warnIntervalMs ?? MISSING_KEY_WARN_INTERVAL_MS;
  const now = opts.now ?? Date.now;
  let lastWarn = -Infinity;
  let missed = 0;
  return (vars) => {
    const key = read(vars);
    if (key !== undefined) return key;
    missed++;
    const t = now();
    if (t - lastWarn >= interval) {
      lastWarn = t;
      (opts.logger ?? logger()).warn({ module: 'upstream', upstream: opts.name, hash_on: up.hash_on ?? 'vars', key: up.key, requests: missed },
        'chash key missing from the request; hashing on remote_addr');
      missed = 0;
    }
    return str(vars.get('remote_addr')) ?? '';
  };
}
