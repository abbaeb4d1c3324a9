// A SecRule / SecAction compiled: targets, operator, transformations and actions.
import type { RE2JS } from 're2js';
import { compileOperator, compileSecRegex, type Operator, type OperatorEnv, UnsupportedRule } from './operators.js';
import { parseActionList, parseOperator, parseVariableList, type RawAction, SecLangError } from './seclang.js';
import { transformByName, type Transform } from './transforms.js';
import { KNOWN_VARIABLES, type Target } from './variables.js';

export type { Target };

export type Disruptive = 'deny' | 'drop' | 'block' | 'pass' | 'allow' | 'redirect';

export interface SetVar {
  collection: string;
  /** Lower-case name; may hold macros. */
  name: string;
  op: '=' | '+' | '-' | 'unset';
  value: string;
}

export interface Ctl {
  name: string;
  value: string;
}

export interface Rule {
  id: number;
  phase: number;
  source: string;
  targets: Target[];
  exclusions: Target[];
  operator: Operator;
  negated: boolean;
  transforms: Transform[];
  /** Names of the transformations, joined: the key of the per-request transformation cache. */
  transformKey: string;
  disruptive: Disruptive | undefined;
  allowScope: 'phase' | 'request' | 'all';
  status: number | undefined;
  msg: string | undefined;
  logdata: string | undefined;
  tags: string[];
  severity: string | undefined;
  setvars: SetVar[];
  ctls: Ctl[];
  capture: boolean;
  multiMatch: boolean;
  skip: number;
  skipAfter: string | undefined;
  chain: Rule | undefined;
  /** Whether this rule asks for the next one as its chain link. */
  chained: boolean;
  /** `nolog`: a match is not reported in the log fields. */
  nolog: boolean;
}

export interface DefaultActions {
  disruptive: Disruptive;
  status: number | undefined;
}

const PHASE_NAMES: Record<string, number> = { request: 2, response: 4, logging: 5 };
const SEVERITIES = ['EMERGENCY', 'ALERT', 'CRITICAL', 'ERROR', 'WARNING', 'NOTICE', 'INFO', 'DEBUG'];
// Accepted and without effect here (logging, audit, persistence, metadata).
const INERT_ACTIONS = new Set([
  'auditlog', 'noauditlog', 'rev', 'ver', 'maturity', 'accuracy', 'initcol', 'expirevar',
  'setenv', 'setuid', 'setsid', 'sanitisematched', 'sanitisearg', 'sanitiserequestheader', 'sanitiseresponseheader',
  'sanitizematched', 'sanitizearg', 'deprecatevar', 'logdata_', 'append', 'prepend', 'xmlns', 'pause', 'proxy',
]);

export function parseTarget(raw: { collection: string; key: string | undefined; keyIsRegex: boolean; count: boolean }, source: string): Target {
  if (!KNOWN_VARIABLES.has(raw.collection)) throw new SecLangError(`${source}: unknown variable '${raw.collection}'`);
  return {
    collection: raw.collection,
    key: raw.key !== undefined && !raw.keyIsRegex ? raw.key.toLowerCase() : undefined,
    keyRegex: raw.key !== undefined && raw.keyIsRegex ? compileSecRegex(`(?i)${raw.key}`, source) : undefined,
    count: raw.count,
  };
}

export function parseTargets(text: string, source: string): { targets: Target[]; exclusions: Target[] } {
  const targets: Target[] = [];
  const exclusions: Target[] = [];
  for (const raw of parseVariableList(text, source)) (raw.exclude ? exclusions : targets).push(parseTarget(raw, source));
  return { targets, exclusions };
}

function parseSetVar(value: string, source: string): SetVar {
  let spec = value;
  let unset = false;
  if (spec.startsWith('!')) { unset = true; spec = spec.slice(1); }
  const eq = spec.indexOf('=');
  const lhs = eq < 0 ? spec : spec.slice(0, eq);
  const dot = lhs.indexOf('.');
  if (dot < 1) throw new SecLangError(`${source}: setvar '${value}' must name collection.variable`);
  const collection = lhs.slice(0, dot).toUpperCase();
  const name = lhs.slice(dot + 1).toLowerCase();
  if (unset) return { collection, name, op: 'unset', value: '' };
  if (eq < 0) return { collection, name, op: '=', value: '1' };
  const rhs = spec.slice(eq + 1);
  if (rhs.startsWith('+')) return { collection, name, op: '+', value: rhs.slice(1) };
  if (rhs.startsWith('-')) return { collection, name, op: '-', value: rhs.slice(1) };
  return { collection, name, op: '=', value: rhs };
}

/** Compiles `SecRule VARIABLES OPERATOR [ACTIONS]` (or SecAction when `variables` is undefined). */
export function compileRule(
  variables: string | undefined, operatorText: string, actionsText: string,
  env: OperatorEnv, defaults: Map<number, DefaultActions>, parent: Rule | undefined,
): Rule {
  const { source } = env;
  const op = parseOperator(operatorText);
  const { targets, exclusions } = variables === undefined ? { targets: [], exclusions: [] } : parseTargets(variables, source);
  const rule: Rule = {
    id: 0, phase: parent?.phase ?? 2, source, targets, exclusions,
    operator: compileOperator(op.name, op.arg, env), negated: op.negated,
    transforms: [], transformKey: '', disruptive: undefined, allowScope: 'all', status: undefined,
    msg: undefined, logdata: undefined, tags: [], severity: undefined, setvars: [], ctls: [],
    capture: false, multiMatch: false, skip: 0, skipAfter: undefined, chain: undefined, chained: false, nolog: false,
  };
  const names: string[] = [];
  let phaseSet = false;
  for (const action of parseActionList(actionsText, source)) {
    phaseSet = applyAction(rule, action, names, source) || phaseSet;
  }
  rule.transformKey = names.join(',');
  if (parent !== undefined) {
    if (phaseSet && rule.phase !== parent.phase) throw new SecLangError(`${source}: a chained rule cannot change the phase`);
    if (rule.disruptive !== undefined && rule.disruptive !== 'pass') throw new SecLangError(`${source}: disruptive actions belong on the chain's first rule`);
    return rule;
  }
  if (rule.id === 0) throw new SecLangError(`${source}: rule has no 'id' action`);
  const def = defaults.get(rule.phase);
  if (rule.disruptive === undefined || rule.disruptive === 'block') {
    rule.disruptive = def?.disruptive ?? 'pass';
    rule.status ??= def?.status;
  }
  return rule;
}

function needValue(a: RawAction, source: string): string {
  if (a.value === undefined || a.value === '') throw new SecLangError(`${source}: action '${a.name}' needs a value`);
  return a.value;
}

/** Applies one action; returns whether it set the phase. */
function applyAction(rule: Rule, a: RawAction, transformNames: string[], source: string): boolean {
  switch (a.name) {
    case 'id': {
      const id = Number(needValue(a, source));
      if (!Number.isInteger(id) || id <= 0) throw new SecLangError(`${source}: id '${a.value}' is not a positive integer`);
      rule.id = id;
      return false;
    }
    case 'phase': {
      const v = needValue(a, source).toLowerCase();
      const phase = PHASE_NAMES[v] ?? Number(v);
      if (!Number.isInteger(phase) || phase < 1 || phase > 5) throw new SecLangError(`${source}: phase '${a.value}' is not 1–5`);
      rule.phase = phase;
      return true;
    }
    case 'deny': case 'drop': case 'block': case 'pass': case 'redirect':
      rule.disruptive = a.name;
      return false;
    case 'allow':
      rule.disruptive = 'allow';
      rule.allowScope = a.value === 'phase' ? 'phase' : a.value === 'request' ? 'request' : 'all';
      return false;
    case 'status': {
      const status = Number(needValue(a, source));
      if (!Number.isInteger(status) || status < 100 || status > 599) throw new SecLangError(`${source}: status '${a.value}' is not an HTTP status`);
      rule.status = status;
      return false;
    }
    case 'msg': rule.msg = a.value ?? ''; return false;
    case 'logdata': rule.logdata = a.value ?? ''; return false;
    case 'tag': rule.tags.push(a.value ?? ''); return false;
    case 'severity': {
      const v = needValue(a, source);
      rule.severity = /^[0-7]$/.test(v) ? SEVERITIES[Number(v)] : v.toUpperCase();
      return false;
    }
    case 'setvar': rule.setvars.push(parseSetVar(needValue(a, source), source)); return false;
    case 'chain': rule.chained = true; return false;
    case 'nolog': rule.nolog = true; return false;
    case 'log': rule.nolog = false; return false;
    case 'skip': rule.skip = Math.max(0, Number(needValue(a, source)) | 0); return false;
    case 'skipafter': rule.skipAfter = needValue(a, source); return false;
    case 'capture': rule.capture = true; return false;
    case 'multimatch': rule.multiMatch = true; return false;
    case 't': {
      const name = needValue(a, source).toLowerCase();
      if (name === 'none') { rule.transforms = []; transformNames.length = 0; return false; }
      const fn = transformByName(name);
      if (fn === undefined) throw new SecLangError(`${source}: unknown transformation 't:${a.value}'`);
      rule.transforms.push(fn);
      transformNames.push(name);
      return false;
    }
    case 'ctl': {
      const v = needValue(a, source);
      const eq = v.indexOf('=');
      if (eq < 1) throw new SecLangError(`${source}: ctl '${v}' must be name=value`);
      rule.ctls.push({ name: v.slice(0, eq).toLowerCase(), value: v.slice(eq + 1) });
      return false;
    }
    case 'exec':
      throw new UnsupportedRule(`${source}: action 'exec' is not supported`);
    default:
      if (INERT_ACTIONS.has(a.name)) return false;
      throw new SecLangError(`${source}: unknown action '${a.name}'`);
  }
}
