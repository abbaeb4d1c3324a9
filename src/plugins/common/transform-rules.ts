// The rules of Higress's transformer, compiled once per config and applied to key/value
// stores (headers, query arguments, a JSON body). Each operation sees a store only through
// get/set/delete, so one implementation serves the three targets on both sides.
import type { RE2JS } from 're2js';
import { compileRe2 } from '../../core/expr/pcre.js';
import { parseJsonPath, type JsonPath } from './json-path.js';

export const OPERATIONS = ['remove', 'rename', 'replace', 'add', 'append', 'map', 'dedupe'] as const;
export type Operation = (typeof OPERATIONS)[number];
export const TARGETS = ['headers', 'querys', 'body'] as const;
export type Target = (typeof TARGETS)[number];
export const STRATEGIES = ['RETAIN_FIRST', 'RETAIN_LAST', 'RETAIN_UNIQUE', 'SPLIT_AND_RETAIN_FIRST', 'SPLIT_AND_RETAIN_LAST'] as const;
type Strategy = (typeof STRATEGIES)[number];
type ValueType = 'string' | 'number' | 'boolean' | 'object';

export interface ItemConf {
  key?: string; oldKey?: string; newKey?: string; newValue?: string; value?: string; appendValue?: string;
  fromKey?: string; toKey?: string; strategy?: Strategy; value_type?: ValueType; host_pattern?: string; path_pattern?: string;
}

export interface RuleConf {
  operate: Operation;
  mapSource?: Target;
  headers?: ItemConf[];
  querys?: ItemConf[];
  body?: ItemConf[];
}

/** Keys are header names (lower-case), query argument names, or JSON paths. */
export type Key = string | JsonPath;

export interface Store {
  get(key: Key): unknown;
  set(key: Key, value: unknown): void;
  delete(key: Key): void;
  /** The value as a list (a header's comma-separated values, a repeated argument, a JSON array). */
  values(key: Key): unknown[];
}

interface Condition { re: RE2JS; subject: 'host' | 'path' }

export interface CompiledItem {
  target: Target;
  key: Key;
  /** rename's newKey, map's toKey. */
  to: Key | undefined;
  /** replace's newValue, add's value, append's appendValue; `$N` from the condition's groups. */
  value: string | undefined;
  valueType: ValueType;
  strategy: Strategy;
  condition: Condition | undefined;
}

export interface CompiledRule { operate: Operation; source: Target | undefined; items: CompiledItem[] }

/** The field each operation reads its key from, and the fields it may use beside it. */
const FIELDS: Record<Operation, { key: keyof ItemConf; to?: keyof ItemConf; value?: keyof ItemConf; extra: (keyof ItemConf)[] }> = {
  remove: { key: 'key', extra: [] },
  rename: { key: 'oldKey', to: 'newKey', extra: [] },
  replace: { key: 'key', value: 'newValue', extra: ['value_type', 'host_pattern', 'path_pattern'] },
  add: { key: 'key', value: 'value', extra: ['value_type', 'host_pattern', 'path_pattern'] },
  append: { key: 'key', value: 'appendValue', extra: ['value_type', 'host_pattern', 'path_pattern'] },
  map: { key: 'fromKey', to: 'toKey', extra: [] },
  dedupe: { key: 'key', extra: ['strategy'] },
};

function compileKey(target: Target, text: string, field: string): Key {
  if (target === 'body') return parseJsonPath(text, field);
  return target === 'headers' ? text.toLowerCase() : text;
}

function compileItem(op: Operation, target: Target, keyTarget: Target, item: ItemConf, field: string): CompiledItem {
  const spec = FIELDS[op];
  const allowed = new Set<string>([spec.key, ...(spec.to ? [spec.to] : []), ...(spec.value ? [spec.value] : []), ...spec.extra]);
  for (const name of Object.keys(item)) {
    if (!allowed.has(name)) throw new Error(`${field}.${name}: not used by operate ${op}`);
  }
  const need = (name: keyof ItemConf): string => {
    const v = item[name];
    if (typeof v !== 'string' || v.length === 0) throw new Error(`${field}.${name}: required by operate ${op}`);
    return v;
  };
  if (item.value_type !== undefined && target !== 'body') {
    throw new Error(`${field}.value_type: only JSON body values have a type`);
  }
  if (item.host_pattern !== undefined && item.path_pattern !== undefined) {
    throw new Error(`${field}.path_pattern: give host_pattern or path_pattern, not both`);
  }
  const condition = item.host_pattern !== undefined ? compileCondition(item.host_pattern, 'host', `${field}.host_pattern`)
    : item.path_pattern !== undefined ? compileCondition(item.path_pattern, 'path', `${field}.path_pattern`) : undefined;
  const valueType = item.value_type ?? 'string';
  const value = spec.value === undefined ? undefined : (item[spec.value] as string | undefined) ?? '';
  if (value !== undefined && condition === undefined && convert(value, valueType) === undefined) {
    throw new Error(`${field}.${spec.value}: not a ${valueType} value`);
  }
  return {
    target,
    // map reads fromKey in the source (mapSource), writes toKey in the target
    key: compileKey(keyTarget, need(spec.key), `${field}.${spec.key}`),
    to: spec.to === undefined ? undefined : compileKey(target, need(spec.to), `${field}.${spec.to}`),
    value,
    valueType,
    strategy: item.strategy ?? 'RETAIN_FIRST',
    condition,
  };
}

function compileCondition(pattern: string, subject: 'host' | 'path', field: string): Condition {
  try {
    return { re: compileRe2(pattern, pattern), subject };
  } catch (err) {
    throw new Error(`${field}: ${(err as Error).message}`);
  }
}

/** Compiles `rules` (field name `field`, e.g. `reqRules`); `targets` are those this side supports. */
export function compileRules(rules: RuleConf[], field: string, targets: readonly Target[]): CompiledRule[] {
  return rules.map((rule, i) => {
    const at = `${field}[${i}]`;
    if (rule.mapSource !== undefined && rule.operate !== 'map') throw new Error(`${at}.mapSource: only for operate map`);
    if (rule.mapSource !== undefined && !targets.includes(rule.mapSource)) {
      throw new Error(`${at}.mapSource: ${rule.mapSource} is not available on this side`);
    }
    const items: CompiledItem[] = [];
    for (const target of TARGETS) {
      const list = rule[target];
      if (list === undefined) continue;
      if (!targets.includes(target)) throw new Error(`${at}.${target}: not available on this side`);
      list.forEach((item, j) => {
        const source = rule.operate === 'map' ? rule.mapSource ?? target : target;
        items.push(compileItem(rule.operate, target, source, item, `${at}.${target}[${j}]`));
      });
    }
    return { operate: rule.operate, source: rule.mapSource, items };
  });
}

export function rulesTouch(rules: CompiledRule[], target: Target): boolean {
  return rules.some((r) => r.source === target || r.items.some((i) => i.target === target));
}

function convert(text: string, type: ValueType): unknown {
  switch (type) {
    case 'string': return text;
    case 'number': {
      const n = Number(text);
      return text.trim() === '' || !Number.isFinite(n) ? undefined : n;
    }
    case 'boolean': return text === 'true' ? true : text === 'false' ? false : undefined;
    case 'object': try { return JSON.parse(text) as unknown; } catch { return undefined; }
  }
}

/** Bound on a value built from a pattern's matches (a pattern matching everywhere repeats the value per match). */
const MAX_CONDITIONED_VALUE = 16 * 1024;

/** The request's host and path (with query), which host_pattern and path_pattern match. */
export interface RequestFacts { host: string; path: string }

/**
 * The item's value; with a condition, Higress's `ReplaceAllString(subject, value)`: every
 * match in the host (or path) replaced by the value with `$N` filled from its groups.
 * Undefined when the condition does not match (the item is skipped).
 */
function itemValue(item: CompiledItem, facts: RequestFacts): unknown {
  let text = item.value ?? '';
  if (item.condition !== undefined) {
    const subject = item.condition.subject === 'host' ? facts.host : facts.path;
    const m = item.condition.re.matcher(subject);
    let out = '';
    let last = 0;
    let matched = false;
    while (m.find()) {
      matched = true;
      // Higress's examples write `\$1` (escaped for its YAML); both spellings name group 1
      const expanded = text.replace(/\\?\$(\d)/g, (_s, n: string) => (Number(n) <= m.groupCount() ? m.group(Number(n)) ?? '' : ''));
      out += subject.slice(last, m.start()) + expanded;
      last = m.end();
      if (out.length > MAX_CONDITIONED_VALUE) return undefined;
    }
    if (!matched) return undefined;
    text = out + subject.slice(last);
  }
  return item.valueType === 'string' ? text : convert(text, item.valueType) ?? text;
}

function dedupe(list: unknown[], strategy: Strategy): unknown[] {
  if (list.length === 0) return list;
  switch (strategy) {
    case 'RETAIN_FIRST': return [list[0]];
    case 'RETAIN_LAST': return [list[list.length - 1]];
    case 'RETAIN_UNIQUE': {
      const seen = new Set<string>();
      return list.filter((v) => { const k = JSON.stringify(v); return seen.has(k) ? false : (seen.add(k), true); });
    }
    case 'SPLIT_AND_RETAIN_FIRST':
    case 'SPLIT_AND_RETAIN_LAST': {
      const parts = list.flatMap((v) => String(v).split(',')).map((s) => s.trim());
      return [strategy === 'SPLIT_AND_RETAIN_FIRST' ? parts[0] : parts[parts.length - 1]];
    }
  }
}

/**
 * Applies every item of `rules` (only those writing `only`, when given) for which `stores`
 * holds both the source and the target; returns how many changed something. As Higress:
 * every rule's header items first, in the order written, then query items, then body items.
 */
export function applyRules(rules: CompiledRule[], stores: Partial<Record<Target, Store>>, facts: RequestFacts, only?: Target): number {
  let changed = 0;
  for (const target of TARGETS) {
    if (only !== undefined && target !== only) continue;
    const store = stores[target];
    if (store === undefined) continue;
    changed += applyTarget(rules, target, store, stores, facts);
  }
  return changed;
}

function applyTarget(rules: CompiledRule[], target: Target, store: Store, stores: Partial<Record<Target, Store>>, facts: RequestFacts): number {
  let changed = 0;
  for (const rule of rules) {
    for (const item of rule.items) {
      if (item.target !== target) continue;
      if (rule.operate === 'map') {
        const source = stores[rule.source ?? item.target];
        if (source === undefined) continue;
        const v = source.get(item.key);
        if (v === undefined) continue;
        store.set(item.to!, v);
        changed++;
        continue;
      }
      if (applyItem(rule.operate, item, store, facts)) changed++;
    }
  }
  return changed;
}

function applyItem(op: Exclude<Operation, 'map'>, item: CompiledItem, store: Store, facts: RequestFacts): boolean {
  const current = store.get(item.key);
  switch (op) {
    case 'remove':
      if (current === undefined) return false;
      store.delete(item.key);
      return true;
    case 'rename': {
      if (current === undefined) return false;
      // a header or argument already under the new name keeps its values, the renamed ones follow (Higress)
      const moved = item.target !== 'body' && store.get(item.to!) !== undefined
        ? [...store.values(item.to!), ...store.values(item.key)] : current;
      store.delete(item.key);
      store.set(item.to!, moved);
      return true;
    }
    case 'dedupe': {
      if (current === undefined) return false;
      const kept = dedupe(store.values(item.key), item.strategy);
      store.set(item.key, kept.length === 1 ? kept[0] : kept);
      return true;
    }
    default: {
      const value = itemValue(item, facts);
      if (value === undefined) return false;
      // Higress's code: replace changes only a key that is there (its README says it adds one)
      if ((op === 'add' && current !== undefined) || (op === 'replace' && current === undefined)) return false;
      if (op === 'append' && current !== undefined) store.set(item.key, [...store.values(item.key), value]);
      else store.set(item.key, value);
      return true;
    }
  }
}
