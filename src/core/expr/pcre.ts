// APISIX evaluates `~~` / `~*` with PCRE (ngx.re.find). Rules written for PCRE are
// carried into JS RegExp here, at compile time. JS without the `u` flag quietly reads
// many PCRE constructs as something else (`\A` as "A", `[[:digit:]]` as a class of
// "[:digt" then "]", `[]a]` as an empty class), so the few common ones are rewritten
// and the rest are refused rather than silently matching differently.
import { ExprError } from './expr-error.js';

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'a-zA-Z',
  digit: '0-9',
  alnum: 'a-zA-Z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: '\\t\\n\\v\\f\\r ',
  blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~',
  xdigit: '0-9A-Fa-f',
  word: '\\w',
  cntrl: '\\x00-\\x1f\\x7f',
  print: '\\x20-\\x7e',
  graph: '\\x21-\\x7e',
  ascii: '\\x00-\\x7f',
};

// Letter escapes that mean the same in PCRE and in JS (non-unicode mode).
const SAME_LETTER_ESCAPES = new Set(['d', 'D', 'w', 'W', 's', 'S', 'b', 'B', 'n', 'r', 't', 'f', 'c']);

const HEX_DIGIT = /^[0-9a-fA-F]$/;
const REGEX_META = /[\\^$.*+?()[\]{}|/-]/g;

function fail(pattern: string, reason: string): never {
  throw new ExprError(`invalid regex '${pattern}': ${reason}`);
}

function hex4(code: number): string {
  return '\\u' + code.toString(16).padStart(4, '0');
}

/** Rewrites a PCRE pattern into JS source + flags; throws ExprError when it cannot. */
export function translatePcre(pattern: string, caseless: boolean): { source: string; flags: string } {
  let flags = caseless ? 'i' : '';
  let i = 0;
  // Leading option settings such as `(?i)` are common in PCRE rules; JS (Node 20)
  // has no inline modifiers, but at the very start they are just flags.
  for (let m = /^\(\?([a-zA-Z]+)\)/.exec(pattern); m !== null; m = /^\(\?([a-zA-Z]+)\)/.exec(pattern.slice(i))) {
    for (const f of m[1]!) {
      if (f !== 'i' && f !== 'm' && f !== 's') fail(pattern, `unsupported option '(?${f})'`);
      if (!flags.includes(f)) flags += f;
    }
    i += m[0].length;
  }

  let out = '';
  let inClass = false;
  const n = pattern.length;
  while (i < n) {
    const c = pattern[i]!;
    if (c === '\\') {
      if (i + 1 >= n) fail(pattern, 'trailing backslash');
      const d = pattern[i + 1]!;
      i += 2;
      if (!/[a-zA-Z]/.test(d)) {
        out += '\\' + d;
        continue;
      }
      if (SAME_LETTER_ESCAPES.has(d)) {
        out += '\\' + d;
        if (d === 'c' && i < n) out += pattern[i++];
        continue;
      }
      switch (d) {
        case 'A':
          if (inClass) fail(pattern, '\\A inside a character class');
          out += '(?<![\\s\\S])';
          break;
        case 'z':
          if (inClass) fail(pattern, '\\z inside a character class');
          out += '(?![\\s\\S])';
          break;
        case 'Z':
          if (inClass) fail(pattern, '\\Z inside a character class');
          out += '(?=\\n?(?![\\s\\S]))';
          break;
        case 'e':
          out += '\\x1b';
          break;
        case 'a':
          out += '\\x07';
          break;
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
            if (!/^[0-9a-fA-F]{1,4}$/.test(digits)) fail(pattern, 'unsupported \\x{...} escape');
            out += hex4(parseInt(digits, 16));
            i = close + 1;
          } else {
            // PCRE takes 0-2 hex digits; JS would read `\x4` as the letters "x4".
            let digits = '';
            while (digits.length < 2 && i < n && HEX_DIGIT.test(pattern[i]!)) digits += pattern[i++];
            out += hex4(digits === '' ? 0 : parseInt(digits, 16));
          }
          break;
        }
        case 'k': {
          const open = pattern[i];
          const closer = open === '<' ? '>' : open === "'" ? "'" : open === '{' ? '}' : '';
          const close = closer === '' ? -1 : pattern.indexOf(closer, i + 1);
          if (close < 0) fail(pattern, 'bad \\k back reference');
          out += `\\k<${pattern.slice(i + 1, close)}>`;
          i = close + 1;
          break;
        }
        default:
          fail(pattern, `unsupported escape '\\${d}'`);
      }
      continue;
    }

    if (inClass) {
      if (c === ']') {
        inClass = false;
        out += c;
        i++;
      } else if (c === '[' && pattern[i + 1] === ':') {
        const close = pattern.indexOf(':]', i + 2);
        const name = close < 0 ? undefined : pattern.slice(i + 2, close);
        const ranges = name === undefined ? undefined : POSIX_CLASSES[name];
        if (name !== undefined && ranges === undefined) fail(pattern, `unsupported POSIX class '[:${name}:]'`);
        if (ranges === undefined) {
          out += '\\[';
          i++;
        } else {
          out += ranges;
          i = close + 2;
        }
      } else if (c === '[') {
        out += '\\[';
        i++;
      } else {
        out += c;
        i++;
      }
      continue;
    }

    if (c === '[') {
      inClass = true;
      out += '[';
      i++;
      if (pattern[i] === '^') {
        out += '^';
        i++;
      }
      // In PCRE a `]` right after the opening bracket is a literal member.
      if (pattern[i] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }

    if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2, i + 4);
      if (rest === 'P<') {
        out += '(?<';
        i += 4;
        continue;
      }
      if (rest === 'P=') {
        const close = pattern.indexOf(')', i);
        if (close < 0) fail(pattern, 'unterminated group');
        out += `\\k<${pattern.slice(i + 4, close)}>`;
        i = close + 1;
        continue;
      }
      if (pattern[i + 2] === '#') {
        const close = pattern.indexOf(')', i);
        if (close < 0) fail(pattern, 'unterminated comment');
        i = close + 1;
        continue;
      }
      if (pattern[i + 2] === "'") {
        const close = pattern.indexOf("'", i + 3);
        if (close < 0) fail(pattern, 'bad group name');
        out += `(?<${pattern.slice(i + 3, close)}>`;
        i = close + 1;
        continue;
      }
    }

    out += c;
    i++;
  }
  return { source: out, flags };
}

/** Compiles a PCRE pattern (as ngx.re would read it) into an unanchored JS RegExp. */
export function compilePcre(pattern: string, caseless: boolean): RegExp {
  const { source, flags } = translatePcre(pattern, caseless);
  try {
    return new RegExp(source, flags);
  } catch (err) {
    throw new ExprError(`invalid regex '${pattern}': ${(err as Error).message}`, { cause: err });
  }
}
