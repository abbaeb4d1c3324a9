// ngx.re.match / ngx.re.sub / ngx.re.gsub as APISIX plugins use them. The PCRE pattern is
// carried into RE2 syntax by core/expr's translator and run by re2js, in time linear in
// the subject (these patterns come from route configs and run on response bodies); the
// option letters (`"jo"`, `"i"`, `"x"`, …) become flags, and the replacement template
// (`$0`, `$1`, `${1}`, `$$`) is parsed once into segments. Everything that can fail does
// so at compile time, in prepare, with a message that names the problem.
import type { RE2JS } from 're2js';
import { compileRe2, translatePcre } from '../../core/expr/pcre.js';

export interface NgxRegex {
  readonly pattern: string;
  /** Finds the first match (unanchored unless option `a`); captures[0] is the whole match. */
  match(subject: string): (string | undefined)[] | undefined;
  /** ngx.re.sub (`global` false) or ngx.re.gsub: the result and the number of substitutions. */
  replace(subject: string, template: NgxTemplate, global: boolean): { result: string; count: number };
}

export interface NgxTemplate {
  readonly source: string;
  expand(captures: readonly (string | undefined)[]): string;
}

const IGNORED_OPTIONS = new Set(['j', 'o', 'd', 'D', 'J', 'u', 'U']);

/**
 * Compiles `pattern` with ngx.re option letters. With `binary`, the pattern is matched
 * against byte strings (latin1-decoded buffers), as PCRE without the `u` option does:
 * non-ASCII pattern characters become their UTF-8 bytes.
 */
export function compileNgxRegex(pattern: string, options = '', binary = false): NgxRegex {
  let caseless = false;
  let multiline = false;
  let dotAll = false;
  let extended = false;
  let anchored = false;
  for (const o of options) {
    switch (o) {
      case 'i': caseless = true; break;
      case 'm': multiline = true; break;
      case 's': dotAll = true; break;
      case 'x': extended = true; break;
      case 'a': anchored = true; break;
      default:
        if (!IGNORED_OPTIONS.has(o)) throw new Error(`unknown flag "${o}" (flags "${options}")`);
    }
  }
  let src = binary ? Buffer.from(pattern, 'utf8').toString('latin1') : pattern;
  if (extended) src = stripExtended(src);
  let re: RE2JS;
  try {
    re = compileRe2(translatePcre(src), src, { caseless, multiline, dotAll });
  } catch (err) {
    throw new Error((err as Error).message.replace(/^invalid regex '.*?': /s, ''));
  }
  const groups = re.groupCount();
  const capturesOf = (m: ReturnType<RE2JS['matcher']>): (string | undefined)[] => {
    const out: (string | undefined)[] = [];
    for (let g = 0; g <= groups; g++) out.push(m.group(g) ?? undefined);
    return out;
  };
  return {
    pattern,
    match(subject) {
      const m = re.matcher(subject);
      const found = anchored ? m.lookingAt() : m.find();
      return found ? capturesOf(m) : undefined;
    },
    replace(subject, template, global) {
      if (anchored) return replaceAnchored(re, subject, template, global, capturesOf);
      let count = 0;
      const m = re.matcher(subject);
      const expand = (...args: unknown[]): string => {
        count++;
        // args as String.prototype.replace passes them: match, p1..pn, offset, whole string
        return template.expand(args.slice(0, groups + 1) as (string | undefined)[]);
      };
      const result = global ? m.replaceAll(expand) : m.replaceFirst(expand);
      return { result, count };
    },
  };
}

/**
 * Option `a`: each match must start where the previous one ended (at 0 for the first),
 * as a sticky JS RegExp does. The leftmost match found from `pos` is the anchored one
 * whenever one starts at `pos`, so the search stays RE2's.
 */
function replaceAnchored(
  re: RE2JS, subject: string, template: NgxTemplate, global: boolean,
  capturesOf: (m: ReturnType<RE2JS['matcher']>) => (string | undefined)[],
): { result: string; count: number } {
  const m = re.matcher(subject);
  let out = '';
  let pos = 0;
  let count = 0;
  while (pos <= subject.length && m.find(pos) && m.start() === pos) {
    count++;
    out += template.expand(capturesOf(m));
    const end = m.end();
    if (!global) {
      pos = end;
      break;
    }
    if (end === pos) {
      if (pos === subject.length) {
        pos++;
        break;
      }
      out += subject[pos];
      pos++;
    } else {
      pos = end;
    }
  }
  return { result: out + subject.slice(Math.min(pos, subject.length)), count };
}

/** Parses an ngx.re.sub replacement template: `$0`…`$N`, `${N}`, `$$` for a literal `$`. */
export function compileNgxTemplate(source: string, binary = false): NgxTemplate {
  const text = binary ? Buffer.from(source, 'utf8').toString('latin1') : source;
  const segments: (string | number)[] = [];
  let lit = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '$') {
      lit += c;
      continue;
    }
    const d = text[i + 1];
    if (d === '$') {
      lit += '$';
      i++;
      continue;
    }
    let digits = '';
    if (d === '{') {
      const close = text.indexOf('}', i + 2);
      if (close === -1) throw new Error(`the closing bracket in "${source}" variable is missing`);
      digits = text.slice(i + 2, close).trim();
      if (!/^\d+$/.test(digits)) throw new Error(`invalid capturing variable name found in "${source}"`);
      i = close;
    } else {
      let j = i + 1;
      while (j < text.length && text[j]! >= '0' && text[j]! <= '9') j++;
      digits = text.slice(i + 1, j);
      if (digits === '') throw new Error(`invalid capturing variable name found in "${source}"`);
      i = j - 1;
    }
    if (lit !== '') segments.push(lit);
    lit = '';
    segments.push(Number(digits));
  }
  if (lit !== '') segments.push(lit);
  if (segments.every((s) => typeof s === 'string')) {
    const fixed = segments.join('');
    return { source, expand: () => fixed };
  }
  return {
    source,
    expand(captures) {
      let out = '';
      for (const s of segments) out += typeof s === 'string' ? s : captures[s] ?? '';
      return out;
    },
  };
}

/** PCRE extended mode (`x`): unescaped whitespace and `#` comments outside classes are dropped. */
function stripExtended(p: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\') {
      out += c + (p[i + 1] ?? '');
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (p[i + 1] === '^') out += p[++i];
      if (p[i + 1] === ']') out += p[++i];
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') continue;
    if (c === '#') {
      while (i < p.length && p[i] !== '\n') i++;
      continue;
    }
    out += c;
  }
  return out;
}
