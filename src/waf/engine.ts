// Runs a compiled rule set over one request, phase by phase, as ModSecurity does: rules
// in order, a rule's targets through its transformations into its operator, chains,
// skip/skipAfter, setvar, ctl, and the first disruptive action ends the transaction.
// Deviation, documented: a rule's non-disruptive actions run once per rule match (not once
// per matched variable), so an anomaly score counts rules, not variables.
import type { OperatorRun } from './operators.js';
import type { Pair, RequestData } from './request-data.js';
import type { Rule, Target } from './rule.js';
import { parseTarget } from './rule.js';
import { parseVariableList } from './seclang.js';
import { macroValue, NOT_SCALAR, resolveTarget, scalarValue, targetName, type VariableState } from './variables.js';

export type EngineMode = 'On' | 'Off' | 'DetectionOnly';

export type Entry = { rule: Rule; marker?: undefined } | { marker: string; rule?: undefined };

export interface PhaseRules {
  entries: Entry[];
  /** Marker name (or rule id) → index of the entry after which execution resumes. */
  resumeAfter: Map<string, number>;
}

export interface RuleSet {
  phases: Map<number, PhaseRules>;
  engine: EngineMode;
  /** SecRequestBodyLimit: bytes of a body the rules inspect. */
  bodyLimit: number;
  /** SecRequestBodyLimitAction: a longer body is refused (413) or inspected up to the limit. */
  bodyLimitAction: 'Reject' | 'ProcessPartial';
}

/** A rule that matched (with a msg, or that interrupted), for the log. */
export interface RuleMatch {
  id: number;
  msg: string;
  data: string;
  severity: string;
  tags: string[];
}

export interface Interruption {
  rule: Rule;
  status: number;
  msg: string;
  data: string;
}

const SEVERITY_RANK: Record<string, number> = { EMERGENCY: 0, ALERT: 1, CRITICAL: 2, ERROR: 3, WARNING: 4, NOTICE: 5, INFO: 6, DEBUG: 7 };
const ctlTargetCache = new Map<string, Target>();

function ctlTarget(spec: string): Target {
  let t = ctlTargetCache.get(spec);
  if (t === undefined) {
    t = parseTarget(parseVariableList(spec, 'ctl')[0]!, 'ctl');
    if (ctlTargetCache.size < 10_000) ctlTargetCache.set(spec, t);
  }
  return t;
}

function inIdSpec(id: number, spec: string): boolean {
  for (const part of spec.split(/[\s,]+/)) {
    const dash = part.indexOf('-');
    if (dash > 0 ? id >= Number(part.slice(0, dash)) && id <= Number(part.slice(dash + 1)) : id === Number(part)) return true;
  }
  return false;
}

const num = (s: string | undefined): number => {
  const n = parseInt(s ?? '', 10);
  return Number.isNaN(n) ? 0 : n;
};

export class Transaction implements VariableState, OperatorRun {
  private collectionsMap: Map<string, Map<string, string>> | undefined;
  matchedVar = '';
  matchedVarName = '';
  matchedVars: Pair[] = [];
  forceBodyVariable = false;
  rule = { id: 0, msg: '', severity: '' };
  highestSeverity = 255;
  engine: EngineMode;
  readonly matches: RuleMatch[] = [];
  /** Set when a deny matched in DetectionOnly: what would have been blocked. */
  detected: Interruption | undefined;
  private allowedAll = false;
  private allowedRequest = false;
  // Per-request state made on first use: most requests never need it (allocation is GC time).
  private removedIds: string[] | undefined;
  private removedTags: string[] | undefined;
  private removedTargets: { id?: number; tag?: string; target: Target }[] | undefined;
  /** transformation chain → input → output, per request (CRS rules share a few chains). */
  private transformCache: Map<string, Map<string, string>> | undefined;
  /** OperatorRun: set to captureGroups while a rule with `capture` runs. */
  captures: ((groups: string[]) => void) | undefined;

  constructor(readonly ruleSet: RuleSet, readonly data: RequestData) {
    this.engine = ruleSet.engine;
    data.bodyLimit = ruleSet.bodyLimit;
  }

  /** TX and the other writable collections. */
  get collections(): Map<string, Map<string, string>> {
    return (this.collectionsMap ??= new Map([['TX', new Map()]]));
  }

  private captureGroups(groups: string[]): void {
    const tx = this.collections.get('TX')!;
    groups.forEach((g, n) => tx.set(String(n), g));
  }

  expand(text: string): string {
    if (!text.includes('%{')) return text;
    return text.replace(/%\{([^}]+)\}/g, (_m, expr: string) => macroValue(expr, this));
  }

  /** Runs one phase; returns the interruption that ends the request, if any. */
  runPhase(phase: number): Interruption | undefined {
    if (this.engine === 'Off' || this.allowedAll || (this.allowedRequest && phase <= 2)) return undefined;
    const rules = this.ruleSet.phases.get(phase);
    if (rules === undefined) return undefined;
    const { entries } = rules;
    for (let i = 0; i < entries.length; i++) {
      const rule = entries[i]!.rule;
      if (rule === undefined || this.isRemoved(rule)) continue;
      if (this.matchedVars.length > 0) this.matchedVars = [];
      if (!this.evaluate(rule)) continue;
      const verdict = this.act(rule);
      if (verdict === 'interrupt') return this.interruption(rule);
      if (verdict === 'stop-phase' || (this.engine as EngineMode) === 'Off') return undefined;
      if (rule.skipAfter !== undefined) {
        const resume = rules.resumeAfter.get(rule.skipAfter);
        if (resume !== undefined && resume > i) i = resume;
        else if (resume === undefined) return undefined; // ModSecurity: an unknown marker skips the rest of the phase
      } else if (rule.skip > 0) {
        let skipped = 0;
        while (skipped < rule.skip && i + 1 < entries.length) if (entries[++i]!.rule !== undefined) skipped++;
      }
    }
    return undefined;
  }

  private interruption(rule: Rule): Interruption {
    const last = this.matches[this.matches.length - 1];
    return { rule, status: rule.status ?? 403, msg: last?.id === rule.id ? last.msg : this.expand(rule.msg ?? ''), data: last?.id === rule.id ? last.data : '' };
  }

  private isRemoved(rule: Rule): boolean {
    if (this.removedIds !== undefined && this.removedIds.some((spec) => inIdSpec(rule.id, spec))) return true;
    const tags = this.removedTags;
    return tags !== undefined && rule.tags.some((t) => tags.includes(t));
  }

  private exclusionsFor(rule: Rule, top: Rule): readonly Target[] {
    if (this.removedTargets === undefined) return rule.exclusions;
    const extra = this.removedTargets.filter((r) => r.id === top.id || (r.tag !== undefined && top.tags.includes(r.tag))).map((r) => r.target);
    return extra.length === 0 ? rule.exclusions : [...rule.exclusions, ...extra];
  }

  private transformed(value: string, rule: Rule): string {
    if (rule.transforms.length === 0 || value === '') return value;
    if (value.length < 32) {
      // Short values: transforming again is cheaper than the cache lookups.
      let out = value;
      for (const t of rule.transforms) out = t(out);
      return out;
    }
    const cache = (this.transformCache ??= new Map());
    let chain = cache.get(rule.transformKey);
    if (chain === undefined) cache.set(rule.transformKey, (chain = new Map()));
    let out = chain.get(value);
    if (out === undefined) {
      out = value;
      for (const t of rule.transforms) out = t(out);
      chain.set(value, out);
    }
    return out;
  }

  /** Whether the rule and every link of its chain match. */
  private evaluate(top: Rule): boolean {
    for (let rule: Rule | undefined = top; rule !== undefined; rule = rule.chain) {
      if (!this.evaluateOne(rule, top)) return false;
    }
    return true;
  }

  private evaluateOne(rule: Rule, top: Rule): boolean {
    this.captures = rule.capture ? this.captureGroups : undefined;
    if (rule.targets.length === 0) {
      if (rule.operator('', this) === rule.negated) return false;
      this.matchedVars = [];
      return true;
    }
    const exclusions = this.exclusionsFor(rule, top);
    let matched: Pair[] | undefined;
    for (const target of rule.targets) {
      const single = scalarValue(target, this, exclusions);
      if (single !== NOT_SCALAR) {
        if (single !== undefined) matched = this.test(rule, target, target.key ?? target.collection, single, matched);
        continue;
      }
      for (const [key, raw] of resolveTarget(target, this, exclusions)) matched = this.test(rule, target, key, raw, matched);
    }
    if (matched === undefined) return false;
    this.matchedVars = matched;
    return true;
  }

  /** One value through the rule's transformations and operator; a match is added to `matched`. */
  private test(rule: Rule, target: Target, key: string, raw: string, matched: Pair[] | undefined): Pair[] | undefined {
    const value = target.count ? raw : this.transformed(raw, rule);
    if (rule.operator(value, this) === rule.negated) return matched;
    const name = targetName(target, key);
    this.matchedVar = value;
    this.matchedVarName = name;
    (matched ??= []).push([name, value]);
    return matched;
  }

  /** Runs the matched rule's actions (every chain link's); says how execution continues. */
  private act(top: Rule): 'continue' | 'interrupt' | 'stop-phase' {
    this.rule = { id: top.id, msg: '', severity: top.severity ?? '' };
    for (let rule: Rule | undefined = top; rule !== undefined; rule = rule.chain) {
      for (const sv of rule.setvars) this.setVar(sv.collection, this.expand(sv.name), sv.op, this.expand(sv.value));
      for (const ctl of rule.ctls) this.applyCtl(ctl.name, this.expand(ctl.value));
    }
    const msg = this.expand(top.msg ?? '');
    this.rule.msg = msg;
    if (top.severity !== undefined) this.highestSeverity = Math.min(this.highestSeverity, SEVERITY_RANK[top.severity] ?? 255);
    const disrupts = top.disruptive === 'deny' || top.disruptive === 'drop' || top.disruptive === 'redirect';
    if ((msg !== '' && !top.nolog) || disrupts) {
      this.matches.push({ id: top.id, msg, data: this.expand(top.logdata ?? ''), severity: top.severity ?? '', tags: top.tags });
    }
    if (disrupts) {
      if (this.engine === 'On') return 'interrupt';
      this.detected ??= this.interruption(top);
      return 'continue';
    }
    if (top.disruptive === 'allow') {
      if (top.allowScope === 'all') this.allowedAll = true;
      if (top.allowScope === 'request') this.allowedRequest = true;
      return 'stop-phase';
    }
    return 'continue';
  }

  private setVar(collectionName: string, name: string, op: '=' | '+' | '-' | 'unset', value: string): void {
    let coll = this.collections.get(collectionName);
    if (coll === undefined) this.collections.set(collectionName, (coll = new Map()));
    const key = name.toLowerCase();
    if (op === 'unset') coll.delete(key);
    else if (op === '=') coll.set(key, value);
    else coll.set(key, String(num(coll.get(key)) + (op === '+' ? num(value) : -num(value))));
  }

  private applyCtl(name: string, value: string): void {
    switch (name) {
      case 'ruleremovebyid': (this.removedIds ??= []).push(value); break;
      case 'ruleremovebytag': (this.removedTags ??= []).push(value); break;
      case 'ruleremovetargetbyid': case 'ruleremovetargetbytag': {
        const semi = value.indexOf(';');
        if (semi < 0) break;
        const target = ctlTarget(value.slice(semi + 1));
        const head = value.slice(0, semi);
        (this.removedTargets ??= []).push(name === 'ruleremovetargetbyid' ? { id: Number(head), target } : { tag: head, target });
        break;
      }
      case 'ruleengine': {
        const mode = value.toLowerCase();
        this.engine = mode === 'off' ? 'Off' : mode === 'detectiononly' ? 'DetectionOnly' : 'On';
        break;
      }
      case 'forcerequestbodyvariable': this.forceBodyVariable = value.toLowerCase() === 'on'; break;
      case 'requestbodyprocessor': {
        const p = value.toUpperCase();
        if (p === 'URLENCODED' || p === 'JSON' || p === 'XML' || p === 'MULTIPART') this.data.bodyProcessor = p;
        break;
      }
      default: break; // audit-log and body-limit controls: nothing to do here
    }
  }

  /** TX:anomaly_score-style totals for the log. */
  txNumber(name: string): number {
    return num(this.collections.get('TX')?.get(name));
  }
}
