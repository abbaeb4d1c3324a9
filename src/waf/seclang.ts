// SecLang (ModSecurity's configuration language) at the lexical level: directives split
// into lines (with `\` continuations), a directive into its arguments (double-quoted
// strings keep every backslash except the one before a quote), an action list into
// `name:value` pairs, a variable list into selectors.

/** One directive with where it came from, for error messages. */
export interface Directive {
  name: string;
  args: string[];
  /** `file:line` or `secRules[i]`. */
  source: string;
}

export class SecLangError extends Error {}

/** Splits a configuration text into directives: comments and blank lines dropped, continuations joined. */
export function splitDirectives(text: string, sourceName: string, lineBase = 1): Directive[] {
  const out: Directive[] = [];
  const lines = text.split(/\r?\n/);
  let pending = '';
  let startLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (pending === '') {
      const trimmed = line.trim();
      if (trimmed === '' || trimmed.startsWith('#')) continue;
      startLine = i;
    }
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1);
      if (i < lines.length - 1) continue;
    } else {
      pending += line;
    }
    const source = lineBase < 0 ? sourceName : `${sourceName}:${startLine + lineBase}`;
    out.push(parseDirective(pending, source));
    pending = '';
  }
  return out;
}

/**
 * Reads a quoted string whose opening quote is at `start`: a backslash before the quote
 * character escapes it, every other backslash stays. Undefined when it is not closed.
 */
function readQuoted(text: string, start: number, quote: string): { value: string; end: number } | undefined {
  let value = '';
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && text[i + 1] === quote) { value += quote; i++; continue; }
    if (c === quote) return { value, end: i + 1 };
    value += c;
  }
  return undefined;
}

/** Splits one directive line into its name and arguments. */
export function parseDirective(text: string, source: string): Directive {
  const args: string[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    if (i >= n) break;
    let arg = '';
    if (text[i] === '"') {
      const quoted = readQuoted(text, i, '"');
      if (quoted === undefined) throw new SecLangError(`${source}: unterminated quoted argument`);
      arg = quoted.value;
      i = quoted.end;
    } else {
      while (i < n && text[i] !== ' ' && text[i] !== '\t') arg += text[i++];
    }
    args.push(arg);
  }
  const name = args.shift();
  if (name === undefined) throw new SecLangError(`${source}: empty directive`);
  return { name, args, source };
}

export interface RawAction {
  name: string;
  value: string | undefined;
}

/** Splits `id:1,phase:2,msg:'a, b',t:none` into actions; single quotes protect commas. */
export function parseActionList(text: string, source: string): RawAction[] {
  const out: RawAction[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /[\s,]/.test(text[i]!)) i++;
    if (i >= n) break;
    let name = '';
    while (i < n && text[i] !== ':' && text[i] !== ',') name += text[i++];
    name = name.trim();
    let value: string | undefined;
    if (text[i] === ':') {
      i++;
      while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
      if (text[i] === "'") {
        const quoted = readQuoted(text, i, "'");
        if (quoted === undefined) throw new SecLangError(`${source}: unterminated quote in action '${name}'`);
        value = quoted.value;
        i = quoted.end;
        while (i < n && text[i] !== ',') i++;
      } else {
        value = '';
        while (i < n && text[i] !== ',') value += text[i++];
        value = value.trim();
      }
    }
    if (name === '') throw new SecLangError(`${source}: empty action name`);
    out.push({ name: name.toLowerCase(), value });
  }
  return out;
}

/** One entry of a rule's variable list: `!ARGS:foo`, `&TX:x`, `REQUEST_HEADERS:/^x-/`. */
export interface RawVariable {
  collection: string;
  key: string | undefined;
  /** The key was written as `/regex/`. */
  keyIsRegex: boolean;
  count: boolean;
  exclude: boolean;
}

/** Splits `ARGS|!ARGS:foo|REQUEST_HEADERS:/^x-(a|b)/` on the `|`s outside regex selectors. */
export function parseVariableList(text: string, source: string): RawVariable[] {
  const out: RawVariable[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    let exclude = false;
    let count = false;
    if (text[i] === '!') { exclude = true; i++; }
    if (text[i] === '&') { count = true; i++; }
    let name = '';
    while (i < n && /[A-Za-z0-9_]/.test(text[i]!)) name += text[i++];
    if (name === '') throw new SecLangError(`${source}: bad variable list '${text}'`);
    let key: string | undefined;
    let keyIsRegex = false;
    if (text[i] === ':' || text[i] === '.') {
      i++;
      const quoted = text[i] === "'";
      if (quoted) i++;
      // XML:/xpath is a path, not a regex.
      if (text[i] === '/' && name.toUpperCase() !== 'XML') {
        keyIsRegex = true;
        i++;
        key = '';
        while (i < n && text[i] !== '/') {
          if (text[i] === '\\' && i + 1 < n) { key += text[i]! + text[i + 1]!; i += 2; continue; }
          key += text[i++];
        }
        if (text[i] !== '/') throw new SecLangError(`${source}: unterminated /regex/ in variable '${name}'`);
        i++;
      } else {
        key = '';
        while (i < n && text[i] !== '|' && !(quoted && text[i] === "'")) key += text[i++];
      }
      if (quoted) {
        if (text[i] !== "'") throw new SecLangError(`${source}: unterminated quote in variable '${name}'`);
        i++;
      }
    }
    out.push({ collection: name.toUpperCase(), key, keyIsRegex, count, exclude });
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    if (i < n) {
      if (text[i] !== '|') throw new SecLangError(`${source}: unexpected '${text[i]}' in variable list '${text}'`);
      i++;
      while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    }
  }
  return out;
}

/** `!@rx foo` → operator name, argument and negation; an operator without `@` is `@rx`. */
export function parseOperator(text: string): { name: string; arg: string; negated: boolean } {
  let s = text;
  let negated = false;
  if (s.startsWith('!')) { negated = true; s = s.slice(1); }
  if (!s.startsWith('@')) return { name: 'rx', arg: s, negated };
  const space = s.search(/\s/);
  if (space < 0) return { name: s.slice(1).toLowerCase(), arg: '', negated };
  return { name: s.slice(1, space).toLowerCase(), arg: s.slice(space + 1).trimStart(), negated };
}
