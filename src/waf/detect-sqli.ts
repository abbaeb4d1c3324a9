// @detectSQLi: a token-based SQL injection detector in the manner of libinjection (which
// has no maintained npm port). The input is tokenised as SQL three times: as written, as
// if it continued a single-quoted string, and a double-quoted one (an injection breaks
// out of the literal the application wraps it in). A token sequence is an injection when
// it has the shape of one: a broken-out literal followed by a tautology, a comment or a
// stacked statement; UNION SELECT; stacked destructive statements; timing and file
// functions. This is an equivalent, not a port: it has its own blind spots, listed in
// docs/plugins/waf.md, and is tuned to pass ordinary text (names with apostrophes, prose).
// Linear in the input: one tokenising pass per context, constant look-ahead per token.

type Kind = 'str' | 'num' | 'word' | 'logic' | 'cmp' | 'comment' | '(' | ')' | ';' | ',' | 'var' | 'other';

interface Token {
  kind: Kind;
  text: string;
}

const LOGIC = new Set(['or', 'and', 'xor', '||', '&&', 'div']);
const CMP_WORDS = new Set(['like', 'rlike', 'regexp', 'is', 'sounds']);
const STACKED = new Set(['drop', 'delete', 'insert', 'update', 'select', 'shutdown', 'exec', 'execute', 'declare', 'alter', 'create', 'truncate', 'waitfor', 'union']);
const TIMING = new Set(['sleep', 'benchmark', 'pg_sleep', 'randomblob']);
const ALWAYS_BAD_FUNCS = new Set(['load_file', 'extractvalue', 'updatexml', 'xp_cmdshell', 'sp_executesql', 'dbms_pipe.receive_message', 'utl_http.request', 'utl_inaddr.get_host_address', 'pg_read_file', 'lo_import']);
const ALWAYS_BAD_WORDS = new Set(['information_schema', '@@version', '@@datadir', 'sysobjects', 'syscolumns', 'pg_catalog', 'sqlite_master', 'mysql.user']);
const MAX_TOKENS = 4096;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isWordStart = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x40 || c === 0x24;
const isWordChar = (c: number): boolean => isWordStart(c) || isDigit(c) || c === 0x2e;
/**
 * Input made only of letters, digits, `_`, `-`, `.` and `=` (a slug, `key=value`) has no
 * injection shape: no separator can split two keywords, no quote, comment or `&&`.
 */
const PLAIN = /^[A-Za-z0-9_.=-]*$/;

function tokenize(s: string, quote: string | undefined): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = s.length;
  const readString = (q: string): string => {
    let text = '';
    while (i < n) {
      const c = s[i]!;
      if (c === '\\' && i + 1 < n) { text += s[i + 1]; i += 2; continue; }
      if (c === q) {
        if (s[i + 1] === q) { text += q; i += 2; continue; }
        i++;
        return text;
      }
      text += c;
      i++;
    }
    return text;
  };
  if (quote !== undefined) out.push({ kind: 'str', text: readString(quote) });
  while (i < n && out.length < MAX_TOKENS) {
    const c = s[i]!;
    if (c <= ' ' || c === '\xa0') { i++; continue; }
    if (c === "'" || c === '"' || c === '`') {
      i++;
      const text = readString(c);
      out.push({ kind: c === '`' ? 'word' : 'str', text });
      continue;
    }
    if (c === '#' || (c === '-' && s[i + 1] === '-') || (c === '/' && s[i + 1] === '*')) {
      const end = c === '/' ? s.indexOf('*/', i + 2) : s.indexOf('\n', i);
      out.push({ kind: 'comment', text: c });
      // MySQL's /*! … */ runs its content: tokenise it instead of skipping it.
      if (c === '/' && s[i + 2] === '!') { i += 3; while (i < n && /[0-9]/.test(s[i]!)) i++; continue; }
      i = end < 0 ? n : end + (c === '/' ? 2 : 1);
      continue;
    }
    const code = s.charCodeAt(i);
    if (isDigit(code) || (c === '.' && isDigit(s.charCodeAt(i + 1)))) {
      const m = /^(?:0x[0-9a-f]+|[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)/i.exec(s.slice(i, i + 64))!;
      out.push({ kind: 'num', text: m[0] });
      i += m[0].length;
      continue;
    }
    if (isWordStart(code)) {
      let j = i;
      while (j < n && isWordChar(s.charCodeAt(j))) j++;
      const word = s.slice(i, j).toLowerCase();
      i = j;
      if (LOGIC.has(word)) out.push({ kind: 'logic', text: word });
      else if (CMP_WORDS.has(word)) out.push({ kind: 'cmp', text: word });
      else if (word === 'true' || word === 'false' || word === 'null') out.push({ kind: 'num', text: word });
      else out.push({ kind: word.startsWith('@') ? 'var' : 'word', text: word });
      continue;
    }
    const two = s.slice(i, i + 2);
    if (two === '||' || two === '&&') { out.push({ kind: 'logic', text: two }); i += 2; continue; }
    if (two === '<=' || two === '>=' || two === '!=' || two === '<>' || two === '==') { out.push({ kind: 'cmp', text: two }); i += 2; continue; }
    if (c === '=' || c === '<' || c === '>') { out.push({ kind: 'cmp', text: c }); i++; continue; }
    if (c === '(' || c === ')' || c === ';' || c === ',') { out.push({ kind: c, text: c }); i++; continue; }
    out.push({ kind: 'other', text: c });
    i++;
  }
  return out;
}

const isLiteral = (t: Token | undefined): boolean => t !== undefined && (t.kind === 'num' || t.kind === 'str');
const isEnd = (t: Token | undefined): boolean => t === undefined || t.kind === 'comment' || t.kind === ';';

/** `1=1`, `'a'='a'`, `2>1`, `''='` at tokens[i]: literal, comparison, literal. */
function tautologyAt(t: Token[], i: number): boolean {
  let k = i;
  while (t[k]?.kind === '(') k++;
  if (t[k]?.text === 'not') k++;
  const left = t[k];
  const op = t[k + 1];
  const right = t[k + 2];
  if (isLiteral(left) && op?.kind === 'cmp' && isLiteral(right)) return true;
  // `' or 1--`, `' or true#`: a lone truthy literal ending the statement.
  if (left?.kind === 'num' && isEnd(op)) return true;
  // `' or x=x`: the same name on both sides.
  return left?.kind === 'word' && op?.text === '=' && right?.kind === 'word' && left.text === right.text;
}

function stackedStatementAt(t: Token[], i: number): boolean {
  const kw = t[i]?.text;
  const next = t[i + 1];
  if (kw === undefined || !STACKED.has(kw)) return false;
  switch (kw) {
    case 'drop': case 'truncate': case 'alter': case 'create':
      return next !== undefined && ['table', 'database', 'user', 'procedure', 'function', 'view', 'schema', 'index'].includes(next.text);
    case 'delete': return next?.text === 'from';
    case 'insert': return next?.text === 'into';
    case 'update': return t[i + 2]?.text === 'set';
    case 'select': {
      // `select 1`, `select *`, `select @@version`, `select x from`, `select a, b`: not `; select committee`.
      if (next === undefined) return false;
      if (next.kind === 'num' || next.kind === 'str' || next.kind === 'var' || next.kind === '(' || next.text === '*') return true;
      const after = t[i + 2];
      return next.kind === 'word' && after !== undefined && (after.kind === ',' || after.kind === '(' || after.text === 'from');
    }
    case 'shutdown': return isEnd(next);
    case 'exec': case 'execute': return next !== undefined && (/^(?:xp_|sp_|master\.)/.test(next.text) || next.kind === '(');
    case 'declare': return next?.kind === 'var';
    case 'waitfor': return next?.text === 'delay' || next?.text === 'time';
    case 'union': return unionSelectAt(t, i);
    default: return false;
  }
}

function unionSelectAt(t: Token[], i: number): boolean {
  if (t[i]?.text !== 'union') return false;
  let k = i + 1;
  while (t[k]?.kind === 'comment') k++;
  if (t[k]?.text === 'all' || t[k]?.text === 'distinct') k++;
  while (t[k]?.kind === '(' || t[k]?.kind === 'comment') k++;
  return t[k]?.text === 'select';
}

function timingCallAt(t: Token[], i: number): boolean {
  if (!TIMING.has(t[i]?.text ?? '') || t[i + 1]?.kind !== '(') return false;
  const before = t[i - 1];
  return before !== undefined && ['logic', '(', ',', ';', 'cmp'].includes(before.kind) || before?.text === 'select';
}

/** Whether the tokens of one reading have an injection's shape. */
function injectionShape(t: Token[], quoted: boolean): boolean {
  for (let i = 0; i < t.length; i++) {
    const tok = t[i]!;
    if (tok.kind === 'word') {
      const head = tok.text.split('.')[0]!;
      if (ALWAYS_BAD_WORDS.has(tok.text) || ALWAYS_BAD_WORDS.has(head)) return true;
      if (ALWAYS_BAD_FUNCS.has(tok.text) && t[i + 1]?.kind === '(') return true;
    }
    if (tok.kind === 'var' && ALWAYS_BAD_WORDS.has(tok.text)) return true;
    if (unionSelectAt(t, i) || timingCallAt(t, i)) return true;
    if (tok.kind === ';' && stackedStatementAt(t, i + 1)) return true;
    if (tok.text === 'into' && (t[i + 1]?.text === 'outfile' || t[i + 1]?.text === 'dumpfile')) return true;
  }
  // The break-out shapes, anchored at the start as the application's query would read them.
  let k = 0;
  const first = t[0];
  if (first === undefined) return false;
  if (quoted ? first.kind !== 'str' : first.kind !== 'num') return false;
  k = 1;
  while (t[k]?.kind === ')') k++;
  const next = t[k];
  if (next === undefined) return false;
  if (next.kind === 'logic') {
    const after = t[k + 1];
    if (tautologyAt(t, k + 1)) return true;
    if (after?.kind === '(' && t[k + 2]?.text === 'select') return true;
    if (isLiteral(after) && t[k + 2]?.kind === 'cmp' && t[k + 3]?.kind === '(' && t[k + 4]?.text === 'select') return true;
    if (after !== undefined && TIMING.has(after.text) && t[k + 2]?.kind === '(') return true;
    return false;
  }
  if (quoted && (next.kind === 'comment' || (next.kind === ';' && isEnd(t[k + 1]) && t[k + 1] !== undefined))) return true;
  if (quoted && next.kind === ';' && stackedStatementAt(t, k + 1)) return true;
  if ((next.text === 'order' || next.text === 'group') && t[k + 1]?.text === 'by' && t[k + 2]?.kind === 'num') return true;
  if (next.kind === 'cmp' && isLiteral(t[k + 1]) && t[k + 2]?.kind === 'logic' && tautologyAt(t, k + 3)) return true;
  return false;
}

/** True when `input` looks like SQL injection. */
export function detectSqli(input: string): boolean {
  if (input.length < 2 || (PLAIN.test(input) && !input.includes('information_schema'))) return false;
  const lower = input.toLowerCase();
  if (injectionShape(tokenize(lower, undefined), false)) return true;
  for (const q of ["'", '"']) {
    if (lower.includes(q) && injectionShape(tokenize(lower, q), true)) return true;
  }
  return false;
}
