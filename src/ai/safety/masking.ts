// Masking of sensitive data in prompts and its restoring in answers, as Higress's
// ai-data-masking does it: `replace_roles` rules (RE2 regexes with grok macros) replace
// each match by a template (`value`, with `$1`, `$name`, `${name}`) or by the SHA-256 hex
// of the match; a rule with `restore` remembers mask → original for this request, so the
// answer gets the original back. A mask two different originals produced is ambiguous
// and is not restored (as Higress). Deny words match case-insensitively, whole words for
// words of letters and digits (Higress tokenizes; a substring rule would deny "class" for "ass").
import { createHash } from 'node:crypto';
import { RE2JS } from 're2js';
import { compileRe2 } from '../../core/expr/pcre.js';
import { expandGrok } from './grok.js';

export interface ReplaceRoleConf { regex: string; type: 'replace' | 'hash'; restore?: boolean; value?: string }

type Segment = string | number | { name: string };

export interface MaskRule {
  readonly re: RE2JS;
  readonly hash: boolean;
  readonly restore: boolean;
  readonly template: readonly Segment[];
}

/** `$1`, `${1}`, `$name`, `${name}` and `$$` (Rust regex's replacement syntax, which Higress uses). */
function parseTemplate(value: string, re: RE2JS, field: string): Segment[] {
  const out: Segment[] = [];
  let literal = '';
  const groups = re.groupCount();
  const named = re.namedGroups();
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== '$') { literal += c; continue; }
    if (value[i + 1] === '$') { literal += '$'; i++; continue; }
    let ref: string;
    const braced = value[i + 1] === '{';
    if (braced) {
      const close = value.indexOf('}', i + 2);
      if (close < 0) throw new Error(`${field}: "\${" without its "}"`);
      ref = value.slice(i + 2, close);
      i = close;
    } else {
      ref = /^[A-Za-z0-9_]*/.exec(value.slice(i + 1))![0];
      i += ref.length;
    }
    if (ref === '') { literal += '$'; continue; }
    if (literal !== '') { out.push(literal); literal = ''; }
    if (/^\d+$/.test(ref)) {
      if (Number(ref) > groups) throw new Error(`${field}: $${ref} refers to a group the regex does not have (it has ${groups})`);
      out.push(Number(ref));
    } else {
      if (named[ref] === undefined) throw new Error(`${field}: $${ref} names no group of the regex (its named groups: ${Object.keys(named).join(', ') || 'none'})`);
      out.push({ name: ref });
    }
  }
  if (literal !== '') out.push(literal);
  return out;
}

/** Compiles `replace_roles`; errors name the rule (`<field>[i].regex`, `.value`). */
export function compileReplaceRoles(roles: readonly ReplaceRoleConf[], field: string): MaskRule[] {
  return roles.map((role, i) => {
    let re: RE2JS;
    try {
      re = compileRe2(expandGrok(role.regex), role.regex);
    } catch (err) {
      throw new Error(`${field}[${i}].regex: ${(err as Error).message}`);
    }
    const hash = role.type === 'hash';
    if (hash && role.value !== undefined) throw new Error(`${field}[${i}].value: a hash rule replaces with the SHA-256 of the match; leave value out`);
    if (!hash && role.value === undefined) throw new Error(`${field}[${i}].value: a replace rule needs the value to put instead`);
    const template = hash ? [] : parseTemplate(role.value!, re, `${field}[${i}].value`);
    return { re, hash, restore: role.restore === true, template };
  });
}

function expand(template: readonly Segment[], m: ReturnType<RE2JS['matcher']>): string {
  let s = '';
  for (const seg of template) s += typeof seg === 'string' ? seg : (m.group(typeof seg === 'number' ? seg : seg.name) ?? '');
  return s;
}

/**
 * One request's masking: what it masked, to restore in the answer. `maxMaskLength` is the
 * longest restorable mask (in UTF-16 units), what a streamed answer must hold back.
 */
export class MaskSession {
  /** mask → original; null when two originals gave the same mask. */
  private readonly restores = new Map<string, string | null>();
  private restoreRe: RE2JS | undefined;
  maxMaskLength = 0;
  masked = 0;

  constructor(private readonly rules: readonly MaskRule[]) {}

  mask(text: string): string {
    let out = text;
    for (const rule of this.rules) out = this.apply(rule, out);
    return out;
  }

  get restoring(): boolean {
    return this.restores.size > 0;
  }

  /** `text` with every unambiguous mask of this request replaced by its original. */
  restore(text: string): string {
    if (this.restores.size === 0) return text;
    this.restoreRe ??= this.compileRestore();
    const m = this.restoreRe.matcher(text);
    let out = '';
    let last = 0;
    while (m.find()) {
      const original = this.restores.get(m.group()!);
      if (original == null) continue;
      out += text.slice(last, m.start()) + original;
      last = m.end();
    }
    return last === 0 ? text : out + text.slice(last);
  }

  /**
   * Where `text` may be cut so that no mask of this request is split: `cut`, or the start
   * of the mask occurrence that spans it.
   */
  safeCut(text: string, cut: number): number {
    if (this.restores.size === 0 || cut >= text.length) return cut;
    this.restoreRe ??= this.compileRestore();
    const m = this.restoreRe.matcher(text);
    while (m.find()) {
      if (m.start() >= cut) break;
      if (m.end() > cut) return m.start();
    }
    return cut;
  }

  private compileRestore(): RE2JS {
    return RE2JS.compile([...this.restores.keys()].sort((a, b) => b.length - a.length).map((k) => RE2JS.quote(k)).join('|'));
  }

  private apply(rule: MaskRule, text: string): string {
    const m = rule.re.matcher(text);
    let out = '';
    let last = 0;
    while (m.find()) {
      const from = m.group()!;
      if (from === '') continue; // an empty match masks nothing
      const to = rule.hash ? createHash('sha256').update(from).digest('hex') : expand(rule.template, m);
      if (rule.restore && to !== '') this.remember(to, from);
      out += text.slice(last, m.start()) + to;
      last = m.end();
      this.masked++;
    }
    return last === 0 ? text : out + text.slice(last);
  }

  private remember(mask: string, original: string): void {
    const known = this.restores.get(mask);
    if (known === undefined) {
      this.restores.set(mask, original);
      this.restoreRe = undefined;
      if (mask.length > this.maxMaskLength) this.maxMaskLength = mask.length;
    } else if (known !== original) {
      this.restores.set(mask, null);
    }
  }
}

const WORD_CHAR = /[A-Za-z0-9_]/;

/** Deny words as one case-insensitive RE2 alternation; undefined when there are none. */
export class DenyWords {
  private readonly re: RE2JS | undefined;
  readonly maxLength: number;

  constructor(words: readonly string[]) {
    const list = [...new Set(words.filter((w) => w !== ''))];
    this.maxLength = list.reduce((n, w) => Math.max(n, w.length), 0);
    if (list.length === 0) return;
    const alternatives = list.map((w) => {
      const start = WORD_CHAR.test(w[0]!) ? '\\b' : '';
      const end = WORD_CHAR.test(w[w.length - 1]!) ? '\\b' : '';
      return `${start}${RE2JS.quote(w)}${end}`;
    });
    this.re = RE2JS.compile(alternatives.join('|'), RE2JS.CASE_INSENSITIVE);
  }

  /** The first deny word `text` contains, as written in the text. */
  find(text: string): string | undefined {
    if (this.re === undefined) return undefined;
    const m = this.re.matcher(text);
    return m.find() ? m.group() ?? undefined : undefined;
  }
}
