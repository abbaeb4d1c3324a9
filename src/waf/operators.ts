// SecLang operators, compiled once per rule. @rx runs on RE2 (re2js, linear time); a
// pattern RE2 cannot express (back references, lookaround) throws UnsupportedRule, and
// the rule-set loader decides whether that refuses the config or skips the rule.
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import path from 'node:path';
import { RE2JS } from 're2js';
import { translatePcre } from '../core/expr/pcre.js';
import { PhraseMatcher } from './aho-corasick.js';
import { requiredLiterals } from './prefilter.js';
import { detectSqli } from './detect-sqli.js';
import { detectXss } from './detect-xss.js';
import { SecLangError } from './seclang.js';

/** A construct this engine does not run; the loader lists the rule instead of loading it. */
export class UnsupportedRule extends Error {}

export interface OperatorRun {
  /** Expands `%{tx.x}` macros in an operator argument. */
  expand(text: string): string;
  /** Set when the rule has `capture`: receives the match's groups (TX:0…TX:9). */
  captures: ((groups: string[]) => void) | undefined;
}

export type Operator = (input: string, run: OperatorRun) => boolean;

export interface OperatorEnv {
  /** Folder of the file the rule came from, for @pmFromFile's relative names. */
  baseDir: string | undefined;
  source: string;
}

/** Compiles a ModSecurity regex (PCRE, DOTALL as ModSecurity compiles it) to RE2. */
export function compileSecRegex(pattern: string, source: string): RE2JS {
  let translated: string;
  try {
    translated = translatePcre(relaxPcre(pattern), false);
  } catch (err) {
    throw new UnsupportedRule(`${source}: ${(err as Error).message}`);
  }
  try {
    return RE2JS.compile(translated, RE2JS.DOTALL);
  } catch (err) {
    throw new UnsupportedRule(`${source}: invalid regex '${pattern}': ${(err as Error).message}`);
  }
}

/**
 * Rewrites two PCRE spellings the CRS uses that RE2 lacks: possessive quantifiers (`*+`,
 * `++`, `?+`, `{n}+`) become greedy ones (they can only match more, never less: a WAF errs
 * towards matching), and `\v` becomes the vertical-tab byte.
 */
export function relaxPcre(pattern: string): string {
  // An escape, a character class (`]` first is literal), or a quantifier followed by `+`.
  return pattern.replace(/\\[\s\S]|\[\^?\]?(?:\\[\s\S]|[^\]\\])*\]|([*+?}])\+/g,
    (m, quantifier: string | undefined) => quantifier ?? m.replace(/\\[\s\S]/g, (e) => (e === '\\v' ? '\\x0b' : e)));
}

/** Whether a value may match: it holds one of the pattern's required literals (any case). */
function literalFilter(pattern: string): ((input: string) => boolean) | undefined {
  const literals = requiredLiterals(pattern);
  if (literals === undefined) return undefined;
  // The automaton folds ASCII case only: it serves ASCII literals.
  if (literals.length > 6 && literals.every((l) => /^[\x00-\x7f]*$/.test(l))) {
    const matcher = new PhraseMatcher(literals);
    return (input) => matcher.find(input) !== undefined;
  }
  return (input) => {
    const lower = input.toLowerCase();
    return literals.some((l) => lower.includes(l));
  };
}

function rx(arg: string, env: OperatorEnv): Operator {
  const re = compileSecRegex(arg, env.source);
  const mayMatch = literalFilter(relaxPcre(arg));
  return (input, run) => {
    if (mayMatch !== undefined && !mayMatch(input)) return false;
    if (run.captures === undefined) return re.test(input);
    const m = re.matcher(input);
    if (!m.find()) return false;
    const groups: string[] = [];
    for (let g = 0; g <= Math.min(9, m.groupCount()); g++) groups.push(m.group(g) ?? '');
    run.captures(groups);
    return true;
  };
}

function readDataFile(file: string, env: OperatorEnv): string[] {
  const full = path.isAbsolute(file) || env.baseDir === undefined ? file : path.join(env.baseDir, file);
  let text: string;
  try {
    text = readFileSync(full, 'latin1');
  } catch (err) {
    throw new SecLangError(`${env.source}: cannot read '${full}': ${(err as Error).message}`);
  }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

function phraseMatch(phrases: string[]): Operator {
  const matcher = new PhraseMatcher(phrases);
  return (input, run) => {
    const found = matcher.find(input);
    if (found === undefined) return false;
    run.captures?.([found]);
    return true;
  };
}

function ipMatch(list: string[], source: string): Operator {
  const blocks = new BlockList();
  for (const entry of list) {
    const [addr, bits] = entry.split('/');
    const family = isIP(addr ?? '');
    if (family === 0) throw new SecLangError(`${source}: @ipMatch: '${entry}' is not an IP address or CIDR`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) blocks.addAddress(addr!, type);
    else blocks.addSubnet(addr!, Number(bits), type);
  }
  return (input) => {
    const family = isIP(input);
    return family !== 0 && blocks.check(input, family === 6 ? 'ipv6' : 'ipv4');
  };
}

function byteRanges(arg: string, source: string): Operator {
  const allowed = new Uint8Array(256);
  for (const part of arg.split(/[\s,]+/).filter(Boolean)) {
    const [lo, hi] = part.split('-').map(Number);
    if (lo === undefined || !Number.isInteger(lo) || (hi !== undefined && !Number.isInteger(hi))) {
      throw new SecLangError(`${source}: @validateByteRange: bad range '${part}'`);
    }
    for (let b = lo; b <= (hi ?? lo) && b < 256; b++) allowed[b] = 1;
  }
  return (input) => {
    for (let i = 0; i < input.length; i++) if (allowed[input.charCodeAt(i) & 0xff] === 0) return true;
    return false;
  };
}

function invalidUrlEncoding(input: string): boolean {
  for (let i = input.indexOf('%'); i >= 0; i = input.indexOf('%', i + 1)) {
    if (!/^[0-9a-fA-F]{2}$/.test(input.slice(i + 1, i + 3))) return true;
  }
  return false;
}

function invalidUtf8(input: string): boolean {
  if (!/[\x80-\xff]/.test(input)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(input, 'latin1'));
    return false;
  } catch {
    return true;
  }
}

const num = (s: string): number => {
  const n = parseInt(s, 10);
  return Number.isNaN(n) ? 0 : n;
};

/** String operators whose argument may hold macros (`@within %{tx.allowed_methods}`). */
function withArg(arg: string, test: (input: string, param: string) => boolean): Operator {
  if (!arg.includes('%{')) return (input) => test(input, arg);
  return (input, run) => test(input, run.expand(arg));
}

export function compileOperator(name: string, arg: string, env: OperatorEnv): Operator {
  switch (name) {
    case 'rx': return rx(arg, env);
    case 'pm': return phraseMatch(arg.split(/\s+/).filter(Boolean));
    case 'pmfromfile': case 'pmf':
      return phraseMatch(arg.split(/\s+/).filter(Boolean).flatMap((f) => readDataFile(f, env)));
    case 'streq': return withArg(arg, (i, p) => i === p);
    case 'contains': return withArg(arg, (i, p) => i.includes(p));
    case 'containsword': return withArg(arg, (i, p) => new RegExp(`(?:^|\\W)${p.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}(?:\\W|$)`).test(i));
    case 'beginswith': return withArg(arg, (i, p) => i.startsWith(p));
    case 'endswith': return withArg(arg, (i, p) => i.endsWith(p));
    case 'within': return withArg(arg, (i, p) => i !== '' && p.includes(i));
    case 'eq': return withArg(arg, (i, p) => num(i) === num(p));
    case 'ge': return withArg(arg, (i, p) => num(i) >= num(p));
    case 'gt': return withArg(arg, (i, p) => num(i) > num(p));
    case 'le': return withArg(arg, (i, p) => num(i) <= num(p));
    case 'lt': return withArg(arg, (i, p) => num(i) < num(p));
    case 'ipmatch': return ipMatch(arg.split(/[\s,]+/).filter(Boolean), env.source);
    case 'ipmatchfromfile': case 'ipmatchf': return ipMatch(readDataFile(arg.trim(), env), env.source);
    case 'validatebyterange': return byteRanges(arg, env.source);
    case 'validateurlencoding': return invalidUrlEncoding;
    case 'validateutf8encoding': return invalidUtf8;
    case 'detectsqli': return detectSqli;
    case 'detectxss': return detectXss;
    case 'unconditionalmatch': return () => true;
    case 'nomatch': return () => false;
    case 'rbl': case 'geolookup': case 'inspectfile': case 'verifycc': case 'verifyssn': case 'verifycpf': case 'fuzzyhash': case 'gsblookup':
      throw new UnsupportedRule(`${env.source}: operator @${name} is not supported`);
    default:
      throw new SecLangError(`${env.source}: unknown operator '@${name}'`);
  }
}
