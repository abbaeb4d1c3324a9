// APISIX evaluates `~~` / `~*` with PCRE (ngx.re.find). A backtracking engine lets one
// pattern such as `^(a+)+$` hold a worker for minutes on a 40-character header, so every
// pattern a user writes runs on RE2 (re2js: linear time in the subject, no native build).
// RE2 already reads most PCRE syntax the same way (`\A`, `\z`, `\Q…\E`, `[[:digit:]]`,
// `(?i)`, `(?P<name>…)`, `\x{263A}`, `[]a]`); the few PCRE spellings it lacks are
// rewritten here, and what it cannot run in linear time (back references, lookaround,
// atomic groups) is refused when the rule is written, never silently changed.
import { RE2JS } from 're2js';
import { ExprError } from './expr-error.js';

/** What RE2 cannot do, named in the refusal so the author knows what to rewrite. */
const LINEAR_ENGINE = 'the linear-time regex engine (RE2)';
const OCTAL_DIGIT = /^[0-7]$/;
const HEX_DIGIT = /^[0-9a-fA-F]$/;
const REGEX_META = /[\\^$.*+?()[\]{}|/-]/g;

// Letter escapes RE2 reads as PCRE does (outside a class; inside, `\b` is a backspace in PCRE).
const SAME_LETTER_ESCAPES = new Set(['d', 'D', 'w', 'W', 's', 'S', 'n', 'r', 't', 'f', 'a', 'p', 'P']);

function fail(pattern: string, reason: string): never {
  throw new ExprError(`invalid regex '${pattern}': ${reason}`);
}

function codePoint(code: number): string {
  return `\\x{${code.toString(16)}}`;
}

/**
 * Rewrites a PCRE pattern into RE2 syntax; throws ExprError when RE2 cannot express it.
 * With `matchOnly` (the caller only asks whether there is a match, never for its text),
 * a final `\Z` may consume the optional trailing newline it looks past in PCRE.
 */
export function translatePcre(pattern: string, matchOnly = false): string {
  let out = '';
  let inClass = false;
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const c = pattern[i]!;
    if (c === '\\') {
      if (i + 1 >= n) fail(pattern, 'trailing backslash');
      const d = pattern[i + 1]!;
      i += 2;
      if (d >= '0' && d <= '9') {
        if (d !== '0' && !inClass) fail(pattern, `back references (\\${d}) are not supported by ${LINEAR_ENGINE}`);
        // octal: `\0`, `\012`; inside a class `\12` is octal too
        let digits = d;
        while (digits.length < 3 && i < n && OCTAL_DIGIT.test(pattern[i]!)) digits += pattern[i++];
        if (!/^[0-7]+$/.test(digits)) fail(pattern, `unsupported escape '\\${digits}'`);
        out += codePoint(parseInt(digits, 8));
        continue;
      }
      if (!/[a-zA-Z]/.test(d)) {
        // PCRE reads an escaped non-ASCII character as itself; RE2 refuses the escape
        out += d.charCodeAt(0) > 0x7f ? d : '\\' + d;
        continue;
      }
      if (SAME_LETTER_ESCAPES.has(d)) {
        out += '\\' + d;
        continue;
      }
      switch (d) {
        case 'b':
        case 'B':
          out += inClass ? (d === 'b' ? codePoint(8) : fail(pattern, '\\B inside a character class')) : '\\' + d;
          break;
        case 'A':
        case 'z':
          if (inClass) fail(pattern, `\\${d} inside a character class`);
          out += '\\' + d;
          break;
        case 'Z':
          if (inClass) fail(pattern, '\\Z inside a character class');
          if (!matchOnly || (i < n && pattern[i] !== '|')) {
            fail(pattern, `\\Z is only supported at the end of a pattern by ${LINEAR_ENGINE}; use \\z or $`);
          }
          out += '(?:\\n?\\z)';
          break;
        case 'e':
          out += codePoint(0x1b);
          break;
        case 'c': {
          const ctl = pattern[i];
          if (ctl === undefined || ctl.charCodeAt(0) > 0x7f) fail(pattern, '\\c at end of pattern');
          out += codePoint(ctl.toUpperCase().charCodeAt(0) ^ 0x40);
          i++;
          break;
        }
        case 'E':
          break;
        case 'Q': {
          let end = pattern.indexOf('\\E', i);
          if (end < 0) end = n;
          out += pattern.slice(i, end).replace(REGEX_META, '\\$&');
          i = end === n ? n : end + 2;
          break;
        }
        case 'x': {
          if (pattern[i] === '{') {
            const close = pattern.indexOf('}', i);
            const digits = close < 0 ? '' : pattern.slice(i + 1, close);
            if (!/^[0-9a-fA-F]{1,6}$/.test(digits) || parseInt(digits, 16) > 0x10ffff) fail(pattern, 'unsupported \\x{...} escape');
            out += codePoint(parseInt(digits, 16));
            i = close + 1;
          } else {
            // PCRE takes 0-2 hex digits; RE2 wants exactly two
            let digits = '';
            while (digits.length < 2 && i < n && HEX_DIGIT.test(pattern[i]!)) digits += pattern[i++];
            out += codePoint(digits === '' ? 0 : parseInt(digits, 16));
          }
          break;
        }
        case 'k':
        case 'g':
          fail(pattern, `back references (\\${d}) are not supported by ${LINEAR_ENGINE}`);
          break;
        default:
          fail(pattern, `unsupported escape '\\${d}'`);
      }
      continue;
    }

    if (inClass) {
      if (c === ']') inClass = false;
      if (c === '[' && pattern[i + 1] === ':') {
        // a POSIX class such as [:alpha:] is copied whole (RE2 knows the same names)
        const close = pattern.indexOf(':]', i + 2);
        if (close >= 0) {
          out += pattern.slice(i, close + 2);
          i = close + 2;
          continue;
        }
      }
      out += c;
      i++;
      continue;
    }

    if (c === '[') {
      inClass = true;
      out += '[';
      i++;
      if (pattern[i] === '^') out += pattern[i++];
      // In PCRE a `]` right after the opening bracket is a literal member.
      if (pattern[i] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }

    if (c === '(' && pattern[i + 1] === '?') {
      const kind = pattern.slice(i + 2, i + 4);
      if (kind.startsWith('#')) {
        const close = pattern.indexOf(')', i);
        if (close < 0) fail(pattern, 'unterminated comment');
        i = close + 1;
        continue;
      }
      if (kind.startsWith('=') || kind.startsWith('!')) fail(pattern, `lookahead assertions are not supported by ${LINEAR_ENGINE}`);
      if (kind === '<=' || kind === '<!') fail(pattern, `lookbehind assertions are not supported by ${LINEAR_ENGINE}`);
      if (kind.startsWith('>')) fail(pattern, `atomic groups are not supported by ${LINEAR_ENGINE}`);
      if (kind === 'P=' || kind === 'P>' || kind.startsWith('&')) {
        fail(pattern, `back references and recursion are not supported by ${LINEAR_ENGINE}`);
      }
      if (kind.startsWith('<') || kind.startsWith("'")) {
        const closer = kind.startsWith('<') ? '>' : "'";
        const close = pattern.indexOf(closer, i + 3);
        if (close < 0) fail(pattern, 'bad group name');
        out += `(?P<${pattern.slice(i + 3, close)}>`;
        i = close + 1;
        continue;
      }
    }

    out += c;
    i++;
  }
  return out;
}

export interface Re2Options {
  caseless?: boolean;
  multiline?: boolean;
  dotAll?: boolean;
}

/** Compiles RE2 syntax; `pattern` (the text the user wrote) names it in the error. */
export function compileRe2(source: string, pattern: string, opts: Re2Options = {}): RE2JS {
  const flags = (opts.caseless === true ? RE2JS.CASE_INSENSITIVE : 0)
    | (opts.multiline === true ? RE2JS.MULTILINE : 0)
    | (opts.dotAll === true ? RE2JS.DOTALL : 0);
  try {
    return RE2JS.compile(source, flags);
  } catch (err) {
    fail(pattern, (err as Error).message.replace(/^error parsing regexp: /, ''));
  }
}

/** Compiles a PCRE pattern (as ngx.re.find would read it) for unanchored yes/no matching. */
export function compilePcre(pattern: string, caseless: boolean): { test(subject: string): boolean } {
  return compileRe2(translatePcre(pattern, true), pattern, { caseless });
}
