// How ai-proxy-multi chooses one of its provider instances: the highest priority group that
// has weight to give, then inside it a smooth weighted round robin (nginx's: with weights 3
// and 1, four requests go a a b a) or a hash of a request key over the weights (chash).
import type { PluginContext } from '../../contracts/plugin.js';

export interface Weighted {
  readonly weight: number;
  readonly priority: number;
}

export type HashOn = 'vars' | 'header' | 'cookie' | 'consumer' | 'vars_combinations';

/** Reads the chash key of a request (APISIX's hash_on/key); a request without it hashes on its client address. */
export function hashKeyReader(hashOn: HashOn, key: string): (ctx: PluginContext) => string {
  const orAddress = (v: unknown, ctx: PluginContext): string =>
    v === undefined || v === null || v === '' ? String(ctx.var('remote_addr') ?? '') : String(v);
  switch (hashOn) {
    case 'header': return (ctx) => orAddress(ctx.request.header(key.toLowerCase()), ctx);
    case 'cookie': return (ctx) => orAddress(ctx.var(`cookie_${key}`), ctx);
    case 'consumer': return (ctx) => orAddress(ctx.consumer?.username, ctx);
    case 'vars': return (ctx) => orAddress(ctx.var(key), ctx);
    case 'vars_combinations': {
      const parts = key.split(/(\$[a-zA-Z0-9_]+)/).filter((p) => p !== '');
      return (ctx) => {
        let out = '';
        let resolved = 0;
        for (const p of parts) {
          if (!p.startsWith('$')) { out += p; continue; }
          const v = ctx.var(p.slice(1));
          if (v !== undefined && v !== null) { resolved++; out += String(v); }
        }
        return orAddress(resolved === 0 ? undefined : out, ctx);
      };
    }
  }
}

/** FNV-1a, 32 bits: cheap and spreads short keys well enough for picking among a few instances. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Picks among `items` (built once per configuration; its round-robin state lives per worker). */
export class InstancePicker<T extends Weighted> {
  /** Groups by priority, highest first, each without its weight-0 members (never picked). */
  private readonly groups: { items: T[]; current: number[] }[];

  constructor(items: readonly T[]) {
    const priorities = [...new Set(items.map((i) => i.priority))].sort((a, b) => b - a);
    this.groups = priorities
      .map((p) => items.filter((i) => i.priority === p && i.weight > 0))
      .filter((g) => g.length > 0)
      .map((g) => ({ items: g, current: g.map(() => 0) }));
  }

  /**
   * The next instance by smooth weighted round robin in the first group that has one not in
   * `tried` (a retry falls to the next priority once its group is spent); undefined when none is left.
   */
  next(tried?: ReadonlySet<T>): T | undefined {
    for (const group of this.groups) {
      let best = -1;
      let total = 0;
      for (let i = 0; i < group.items.length; i++) {
        if (tried?.has(group.items[i]!) === true) continue;
        total += group.items[i]!.weight;
        group.current[i]! += group.items[i]!.weight;
        if (best < 0 || group.current[i]! > group.current[best]!) best = i;
      }
      if (best < 0) continue;
      group.current[best]! -= total;
      return group.items[best];
    }
    return undefined;
  }

  /** The instance `key` hashes to over the weights of the first group with one not in `tried`. */
  byHash(key: string, tried?: ReadonlySet<T>): T | undefined {
    for (const group of this.groups) {
      const left = tried === undefined ? group.items : group.items.filter((i) => !tried.has(i));
      if (left.length === 0) continue;
      let point = fnv1a(key) % left.reduce((n, i) => n + i.weight, 0);
      for (const item of left) {
        if (point < item.weight) return item;
        point -= item.weight;
      }
    }
    return undefined;
  }
}
