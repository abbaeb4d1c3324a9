// SecLang transformations (`t:`). Values are binary strings: one char per byte (latin1),
// as ModSecurity works on bytes. Every transformation is one linear pass.
import { createHash } from 'node:crypto';

export type Transform = (s: string) => string;

const HEX = /^[0-9a-fA-F]$/;
const isHex = (c: string | undefined): boolean => c !== undefined && HEX.test(c);

/** A code point as UTF-8 bytes in a binary string. */
function utf8Bytes(cp: number): string {
  return Buffer.from(String.fromCodePoint(cp), 'utf8').toString('latin1');
}

function urlDecode(s: string, uni: boolean): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '+') { out += ' '; continue; }
    if (c === '%') {
      if (uni && (s[i + 1] === 'u' || s[i + 1] === 'U') && isHex(s[i + 2]) && isHex(s[i + 3]) && isHex(s[i + 4]) && isHex(s[i + 5])) {
        out += lowByte(parseInt(s.slice(i + 2, i + 6), 16));
        i += 5;
        continue;
      }
      if (isHex(s[i + 1]) && isHex(s[i + 2])) {
        out += String.fromCharCode(parseInt(s.slice(i + 1, i + 3), 16));
        i += 2;
        continue;
      }
    }
    out += c;
  }
  return out;
}

const NAMED_ENTITIES: Record<string, string> = { quot: '"', amp: '&', lt: '<', gt: '>', nbsp: '\xa0', apos: "'", colon: ':', sol: '/', lpar: '(', rpar: ')', tab: '\t', newline: '\n' };

function htmlEntityDecode(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#[xX][0-9a-fA-F]{1,8}|#[0-9]{1,9}|[a-zA-Z]{2,8});?/g, (whole, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return String.fromCharCode(code & 0xff);
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? whole;
  });
}

const JS_ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v', a: '\x07' };

/**
 * Copies `s`, handing each backslash that has a character after it to `decode`, which
 * returns the decoded text and the index of the escape's last character.
 */
function decodeBackslashes(s: string, decode: (s: string, i: number) => [text: string, last: number]): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\' || i + 1 >= s.length) { out += c; continue; }
    const [text, last] = decode(s, i);
    out += text;
    i = last;
  }
  return out;
}

/** Keeps the low byte, folding full-width ASCII (U+FF01..FF5E) to ASCII, as ModSecurity does. */
const lowByte = (code: number): string => String.fromCharCode(code >= 0xff01 && code <= 0xff5e ? code - 0xfee0 : code & 0xff);

function jsEscape(s: string, i: number): [string, number] {
  const d = s[i + 1]!;
  if (d === 'u' && isHex(s[i + 2]) && isHex(s[i + 3]) && isHex(s[i + 4]) && isHex(s[i + 5])) {
    return [lowByte(parseInt(s.slice(i + 2, i + 6), 16)), i + 5];
  }
  if (d === 'x' && isHex(s[i + 2]) && isHex(s[i + 3])) return [String.fromCharCode(parseInt(s.slice(i + 2, i + 4), 16)), i + 3];
  if (d >= '0' && d <= '7') {
    let j = i + 1;
    while (j < s.length && j - i <= 3 && s[j]! >= '0' && s[j]! <= '7') j++;
    return [String.fromCharCode(parseInt(s.slice(i + 1, j), 8) & 0xff), j - 1];
  }
  return [JS_ESCAPES[d] ?? d, i + 1];
}

function cssEscape(s: string, i: number): [string, number] {
  let j = i + 1;
  while (j < s.length && j - i <= 6 && isHex(s[j])) j++;
  if (j === i + 1) return [s[j]!, j];
  const text = String.fromCharCode(parseInt(s.slice(i + 1, j), 16) & 0xff);
  // one whitespace ends a CSS escape
  return [text, s[j] === ' ' ? j : j - 1];
}

const jsDecode = (s: string): string => decodeBackslashes(s, jsEscape);
const cssDecode = (s: string): string => decodeBackslashes(s, cssEscape);

function replaceComments(s: string): string {
  if (!s.includes('/*')) return s;
  // An unterminated comment runs to the end, as ModSecurity reads it.
  return s.replace(/\/\*[\s\S]*?(?:\*\/|$)/g, ' ');
}

/**
 * ModSecurity's cmdLine: drops `\\ " ' ^`, lower-cases, turns runs of spaces, commas and
 * semicolons into one space and removes a space before `/` or `(`. The space is held
 * back until the next character decides it, so the pass stays linear.
 */
function cmdLine(s: string): string {
  let out = '';
  let pendingSpace = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!.toLowerCase();
    if (c === '\\' || c === '"' || c === "'" || c === '^') continue;
    if (c === ' ' || c === ',' || c === ';' || c === '\t' || c === '\n' || c === '\r') {
      pendingSpace = true;
      continue;
    }
    if (pendingSpace && c !== '/' && c !== '(') out += ' ';
    pendingSpace = false;
    out += c;
  }
  return pendingSpace ? out + ' ' : out;
}

function normalisePath(s: string): string {
  // Nothing to resolve: no `.` or empty segment.
  if (s === '' || (!s.includes('/.') && !s.includes('//') && !s.startsWith('.'))) return s;
  const absolute = s.startsWith('/');
  const trailing = s.endsWith('/') || s.endsWith('/.') || s.endsWith('/..');
  const parts: string[] = [];
  for (const seg of s.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
      else if (!absolute) parts.push('..');
      continue;
    }
    parts.push(seg);
  }
  const joined = (absolute ? '/' : '') + parts.join('/');
  return trailing && parts.length > 0 ? joined + '/' : joined;
}

function utf8toUnicode(s: string): string {
  if (!/[\x80-\xff]/.test(s)) return s;
  let out = '';
  const bytes = Buffer.from(s, 'latin1');
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const len = b >= 0xf0 && b < 0xf8 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 1;
    if (len > 1 && i + len <= bytes.length) {
      const decoded = bytes.subarray(i, i + len).toString('utf8');
      const cp = decoded.codePointAt(0)!;
      if (cp !== 0xfffd) {
        out += `%u${cp.toString(16).padStart(4, '0')}`;
        i += len;
        continue;
      }
    }
    out += String.fromCharCode(b);
    i++;
  }
  return out;
}

function hexDecode(s: string): string {
  let out = '';
  for (let i = 0; i + 1 < s.length; i += 2) {
    if (!isHex(s[i]) || !isHex(s[i + 1])) return s;
    out += String.fromCharCode(parseInt(s.slice(i, i + 2), 16));
  }
  return out;
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

export const TRANSFORMS: Record<string, Transform> = {
  lowercase: (s) => s.toLowerCase(),
  uppercase: (s) => s.toUpperCase(),
  urldecode: (s) => urlDecode(s, false),
  urldecodeuni: (s) => urlDecode(s, true),
  urlencode: (s) => encodeURIComponent(s),
  htmlentitydecode: htmlEntityDecode,
  jsdecode: jsDecode,
  cssdecode: cssDecode,
  removenulls: (s) => (s.includes('\0') ? s.replaceAll('\0', '') : s),
  replacenulls: (s) => (s.includes('\0') ? s.replaceAll('\0', ' ') : s),
  compresswhitespace: (s) => s.replace(/[\s\xa0]+/g, ' '),
  removewhitespace: (s) => s.replace(/[\s\xa0]+/g, ''),
  replacecomments: replaceComments,
  removecomments: (s) => replaceComments(s).replace(/--.*$|#.*$/gm, ''),
  removecommentschar: (s) => s.replace(/\/\*|\*\/|--|#/g, ''),
  cmdline: cmdLine,
  normalisepath: normalisePath,
  normalizepath: normalisePath,
  normalisepathwin: (s) => normalisePath(s.includes('\\') ? s.replaceAll('\\', '/') : s),
  normalizepathwin: (s) => normalisePath(s.includes('\\') ? s.replaceAll('\\', '/') : s),
  base64decode: (s) => Buffer.from(s, 'base64').toString('latin1'),
  base64decodeext: (s) => Buffer.from(s.replace(/[^A-Za-z0-9+/]/g, ''), 'base64').toString('latin1'),
  base64encode: (s) => latin1(s).toString('base64'),
  hexdecode: hexDecode,
  hexencode: (s) => latin1(s).toString('hex'),
  utf8tounicode: utf8toUnicode,
  length: (s) => String(s.length),
  trim: (s) => s.trim(),
  trimleft: (s) => s.trimStart(),
  trimright: (s) => s.trimEnd(),
  sha1: (s) => createHash('sha1').update(latin1(s)).digest().toString('latin1'),
  md5: (s) => createHash('md5').update(latin1(s)).digest().toString('latin1'),
  escapeseqdecode: jsDecode,
  sqlhexdecode: (s) => s.replace(/0x((?:[0-9a-fA-F]{2})+)/g, (_m, hex: string) => hexDecode(hex)),
};

/** The transformation named by `t:name`, or undefined when unknown. */
export function transformByName(name: string): Transform | undefined {
  return TRANSFORMS[name.toLowerCase()];
}
