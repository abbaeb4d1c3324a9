// Builds a rule set from SecLang text: the project's default rules, the OWASP CRS as
// Debian's modsecurity-crs package installs it, and the user's `secRules`. Rules RE2
// cannot run (and operators this engine lacks) are skipped when they come from the CRS,
// and listed; in the user's own rules they refuse the config, naming the entry.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { EngineMode, Entry, PhaseRules, RuleSet } from './engine.js';
import { UnsupportedRule } from './operators.js';
import { compileRule, type DefaultActions, parseTargets, type Rule } from './rule.js';
import { type Directive, parseActionList, SecLangError, splitDirectives } from './seclang.js';

export interface LoadedRuleSet extends RuleSet {
  /** Rules not loaded, with why: `942190 (REQUEST-942-…conf:123): … lookahead`. */
  skipped: string[];
  /** Directives accepted without effect, and rules in phases this engine does not evaluate. */
  notes: string[];
  ruleCount: number;
}

// Directives about logging, storage and body limits the gateway sets elsewhere.
const IGNORED_DIRECTIVES = new Set([
  'seccomponentsignature', 'seccollectiontimeout', 'secrequestbodyaccess', 'secresponsebodyaccess',
  'secrequestbodynofileslimit', 'secrequestbodyinmemorylimit', 'secresponsebodymimetype',
  'secresponsebodylimit', 'secresponsebodylimitaction', 'secauditengine', 'secauditlog', 'secauditlogparts',
  'secauditlogtype', 'secauditlogformat', 'secauditlogstoragedir', 'secauditlogrelevantstatus', 'secdebuglog',
  'secdebugloglevel', 'sectmpdir', 'secdatadir', 'secargumentseparator', 'seccookieformat', 'secunicodemapfile',
  'secpcrematchlimit', 'secpcrematchlimitrecursion', 'secstatusengine', 'secserversignature', 'secuploaddir',
  'secuploadkeepfiles', 'secgeolookupdb', 'sechashengine', 'secresponsebodymimetypesclear', 'secuploadfilemode',
  'secrequestbodyjsondepthlimit', 'secargumentslimit', 'secwebappid', 'secsensorid',
]);
/**
 * Bytes of a request body the rules inspect unless SecRequestBodyLimit says otherwise: the
 * CRS costs about 2 µs per inspected byte, so this bounds the time a body can take.
 */
export const DEFAULT_BODY_LIMIT = 131072;
/** Phases this engine runs (request headers and body). */
export const EVALUATED_PHASES = new Set([1, 2]);

export interface LoadSource {
  text: string;
  /** Names the source in errors: a file path, or `secRules[i]`. */
  name: string;
  /** Relative files (Include, @pmFromFile) resolve here. */
  baseDir: string | undefined;
  /** Whether a rule this engine cannot run is skipped (CRS) rather than refused (the user's rules). */
  skipUnsupported: boolean;
  /** `secRules[i]` sources report no line number. */
  perEntry?: boolean;
}

export class RuleSetBuilder {
  private readonly rules: Rule[] = [];
  private readonly order: (Rule | { marker: string })[] = [];
  private readonly defaults = new Map<number, DefaultActions>();
  private engine: EngineMode = 'On';
  private bodyLimit = DEFAULT_BODY_LIMIT;
  private bodyLimitAction: 'Reject' | 'ProcessPartial' = 'ProcessPartial';
  private readonly skipped: string[] = [];
  private readonly ignored = new Set<string>();
  private chainTop: Rule | undefined;
  private chainLast: Rule | undefined;
  /** True while skipping the links of a chain whose head was skipped. */
  private skippingChain = false;

  constructor(private readonly includeRoot: string | undefined) {}

  add(src: LoadSource): void {
    const directives = splitDirectives(src.text, src.name, src.perEntry === true ? -1 : 1);
    for (const d of directives) this.directive(d, src);
  }

  private directive(d: Directive, src: LoadSource): void {
    const name = d.name.toLowerCase();
    switch (name) {
      case 'secrule': case 'secaction': return this.rule(d, src);
      case 'secmarker':
        this.endChain(d);
        this.order.push({ marker: d.args[0] ?? '' });
        return;
      case 'secruleengine': {
        const mode = (d.args[0] ?? '').toLowerCase();
        if (!['on', 'off', 'detectiononly'].includes(mode)) throw new SecLangError(`${d.source}: SecRuleEngine takes On, Off or DetectionOnly`);
        this.engine = mode === 'on' ? 'On' : mode === 'off' ? 'Off' : 'DetectionOnly';
        return;
      }
      case 'secdefaultaction': return this.defaultAction(d);
      case 'secrequestbodylimit': {
        const limit = Number(d.args[0]);
        if (!Number.isInteger(limit) || limit < 1) throw new SecLangError(`${d.source}: SecRequestBodyLimit takes a number of bytes`);
        this.bodyLimit = limit;
        return;
      }
      case 'secrequestbodylimitaction': {
        const action = (d.args[0] ?? '').toLowerCase();
        if (action !== 'reject' && action !== 'processpartial') throw new SecLangError(`${d.source}: SecRequestBodyLimitAction takes Reject or ProcessPartial`);
        this.bodyLimitAction = action === 'reject' ? 'Reject' : 'ProcessPartial';
        return;
      }
      case 'secruleremovebyid': {
        const specs = d.args.join(' ').split(/[\s,]+/).filter(Boolean);
        this.removeWhere((r) => specs.some((s) => { const [lo, hi] = s.split('-').map(Number); return r.id >= lo! && r.id <= (hi ?? lo!); }));
        return;
      }
      case 'secruleremovebytag': return this.removeWhere((r) => r.tags.some((t) => d.args.includes(t)));
      case 'secruleremovebymsg': return this.removeWhere((r) => d.args.includes(r.msg ?? ''));
      case 'secruleupdatetargetbyid': case 'secruleupdatetargetbytag': {
        const [key, vars] = d.args;
        if (key === undefined || vars === undefined) throw new SecLangError(`${d.source}: ${d.name} needs a rule and variables`);
        const { targets, exclusions } = parseTargets(vars, d.source);
        for (const r of this.rules) {
          if (name === 'secruleupdatetargetbyid' ? String(r.id) === key : r.tags.includes(key)) {
            r.targets.push(...targets);
            r.exclusions.push(...exclusions);
          }
        }
        return;
      }
      case 'include': case 'includeoptional': return this.include(d, src, name === 'includeoptional');
      default:
        if (IGNORED_DIRECTIVES.has(name)) { this.ignored.add(d.name); return; }
        throw new SecLangError(`${d.source}: unknown directive '${d.name}'`);
    }
  }

  private removeWhere(pred: (r: Rule) => boolean): void {
    for (let i = this.order.length - 1; i >= 0; i--) {
      const e = this.order[i]!;
      if (!('marker' in e) && pred(e)) this.order.splice(i, 1);
    }
    for (let i = this.rules.length - 1; i >= 0; i--) if (pred(this.rules[i]!)) this.rules.splice(i, 1);
  }

  private defaultAction(d: Directive): void {
    const actions = parseActionList(d.args[0] ?? '', d.source);
    const phase = Number(actions.find((a) => a.name === 'phase')?.value ?? '2');
    const disruptive = actions.find((a) => ['deny', 'drop', 'pass', 'allow', 'redirect'].includes(a.name))?.name ?? 'pass';
    const status = actions.find((a) => a.name === 'status')?.value;
    this.defaults.set(phase, { disruptive: disruptive as DefaultActions['disruptive'], status: status === undefined ? undefined : Number(status) });
  }

  private include(d: Directive, src: LoadSource, optional: boolean): void {
    const spec = d.args[0];
    if (spec === undefined) throw new SecLangError(`${d.source}: Include needs a file`);
    const root = this.includeRoot;
    if (root === undefined) throw new SecLangError(`${d.source}: Include needs a CRS path to resolve against`);
    const full = path.resolve(src.baseDir ?? root, spec);
    const allowed = [path.resolve(root), '/etc/modsecurity/crs'];
    if (!allowed.some((dir) => full === dir || full.startsWith(dir + path.sep))) {
      throw new SecLangError(`${d.source}: Include '${spec}' is outside the CRS path ${root}`);
    }
    const dir = path.dirname(full);
    const base = path.basename(full);
    let files: string[];
    if (base.includes('*')) {
      const re = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
      files = existsSync(dir) ? readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => path.join(dir, f)) : [];
    } else {
      files = existsSync(full) ? [full] : [];
    }
    if (files.length === 0 && !optional) throw new SecLangError(`${d.source}: Include '${spec}': no such file`);
    for (const file of files) {
      this.add({ text: readFileSync(file, 'latin1'), name: file, baseDir: path.dirname(file), skipUnsupported: src.skipUnsupported });
    }
  }

  private endChain(d: Directive): void {
    if (this.chainTop !== undefined) throw new SecLangError(`${d.source}: the previous rule asks for a chained rule ('chain') but none follows`);
    this.skippingChain = false;
  }

  private rule(d: Directive, src: LoadSource): void {
    const isAction = d.name.toLowerCase() === 'secaction';
    const [variables, operator, actions] = isAction ? [undefined, '@unconditionalMatch', d.args[0] ?? ''] : [d.args[0], d.args[1], d.args[2] ?? ''];
    if (!isAction && (variables === undefined || operator === undefined)) throw new SecLangError(`${d.source}: SecRule needs variables and an operator`);
    const continuesChain = this.chainTop !== undefined || this.skippingChain;
    const asksChain = /(?:^|,)\s*chain\s*(?:,|$)/i.test(actions);
    if (this.skippingChain) {
      this.skippingChain = asksChain;
      return;
    }
    let rule: Rule;
    try {
      rule = compileRule(variables, operator!, actions, { baseDir: src.baseDir, source: d.source }, this.defaults, continuesChain ? this.chainTop : undefined);
    } catch (err) {
      if (!(err instanceof UnsupportedRule) || !src.skipUnsupported) throw err;
      const id = this.chainTop?.id ?? /(?:^|,)\s*id:\s*'?(\d+)/.exec(actions)?.[1] ?? '?';
      this.skipped.push(`${id} (${path.basename(d.source)}): ${err.message.slice(err.message.indexOf(': ') + 2)}`);
      this.chainTop = undefined;
      this.chainLast = undefined;
      this.skippingChain = asksChain;
      return;
    }
    // The user's own rules are refused rather than kept and never run; the CRS's are counted in `notes`.
    if (!continuesChain && !src.skipUnsupported && !EVALUATED_PHASES.has(rule.phase)) {
      throw new SecLangError(`${d.source}: rule ${rule.id} is in phase ${rule.phase}: only phases 1 (request headers) and 2 (request body) are evaluated`);
    }
    if (continuesChain) {
      this.chainLast!.chain = rule;
      this.chainLast = rule;
    } else {
      this.chainTop = rule;
      this.chainLast = rule;
    }
    if (asksChain) return;
    const top = this.chainTop!;
    this.chainTop = undefined;
    this.chainLast = undefined;
    this.rules.push(top);
    this.order.push(top);
  }

  build(): LoadedRuleSet {
    if (this.chainTop !== undefined) throw new SecLangError(`${this.chainTop.source}: rule ${this.chainTop.id} asks for a chained rule ('chain') but none follows`);
    const phases = new Map<number, PhaseRules>();
    const notEvaluated = new Map<number, number>();
    for (let phase = 1; phase <= 5; phase++) {
      const entries: Entry[] = [];
      const resumeAfter = new Map<string, number>();
      for (const e of this.order) {
        if ('marker' in e) {
          resumeAfter.set(e.marker, entries.length - 1);
          entries.push({ marker: e.marker });
        } else if (e.phase === phase) {
          resumeAfter.set(String(e.id), entries.length);
          entries.push({ rule: e });
        }
      }
      const count = entries.filter((e) => e.rule !== undefined).length;
      if (count === 0) continue;
      if (EVALUATED_PHASES.has(phase)) phases.set(phase, { entries, resumeAfter });
      else notEvaluated.set(phase, count);
    }
    const notes = [...this.ignored].map((name) => `${name}: accepted and ignored`);
    for (const [phase, count] of notEvaluated) notes.push(`${count} rule(s) in phase ${phase} are not evaluated (only phases 1 and 2 run)`);
    return { phases, engine: this.engine, bodyLimit: this.bodyLimit, bodyLimitAction: this.bodyLimitAction, skipped: this.skipped, notes, ruleCount: this.rules.length };
  }
}
