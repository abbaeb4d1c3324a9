// A literal prefilter for @rx: from a pattern, a set of strings one of which every match
// must contain (lower-cased), as code search engines do. A value containing none of them
// cannot match, and the regex engine is skipped; most request values contain none of the
// keywords of most CRS rules. Sound by construction (unknown constructs impose nothing),
// and checked against RE2 over the CRS's patterns in prefilter.test.ts.

/** What a sub-pattern is known to match. `exact`: every string it can match (small sets only). */
interface Info {
  exact: Set<string> | undefined;
  /** Every match contains one of these; undefined: no constraint known. */
  must: Set<string> | undefined;
}

const MAX_SET = 64;
const MAX_LEN = 24;
const EMPTY: Info = { exact: new Set(['']), must: undefined };
const UNKNOWN: Info = { exact: undefined, must: undefined };

const literal = (s: string): Info => ({ exact: new Set([s.toLowerCase()]), must: undefined });

/** The better of two constraints: the one whose shortest string is longest (fewer false hits). */
function better(a: Set<string> | undefined, b: Set<string> | undefined): Set<string> | undefined {
  if (a === undefined || a.has('')) return b !== undefined && !b.has('') ? b : undefined;
  if (b === undefined || b.has('')) return a;
  const minA = Math.min(...[...a].map((s) => s.length));
  const minB = Math.min(...[...b].map((s) => s.length));
  return minB > minA || (minB === minA && b.size < a.size) ? b : a;
}

const constraint = (i: Info): Set<string> | undefined => better(i.must, i.exact);

function concat(a: Info, b: Info): Info {
  let exact: Set<string> | undefined;
  if (a.exact !== undefined && b.exact !== undefined && a.exact.size * b.exact.size <= MAX_SET) {
    exact = new Set();
    for (const x of a.exact) for (const y of b.exact) exact.add(x + y);
    if ([...exact].some((s) => s.length > MAX_LEN)) exact = undefined;
  }
  return { exact, must: better(constraint(a), constraint(b)) };
}

function alternate(a: Info, b: Info): Info {
  const exact = a.exact !== undefined && b.exact !== undefined && a.exact.size + b.exact.size <= MAX_SET
    ? new Set([...a.exact, ...b.exact]) : undefined;
  const ca = constraint(a);
  const cb = constraint(b);
  const must = ca !== undefined && cb !== undefined && ca.size + cb.size <= MAX_SET ? new Set([...ca, ...cb]) : undefined;
  return { exact, must };
}

class Parser {
  private i = 0;
  constructor(private readonly p: string) {}

  parse(): Info {
    const info = this.alternation();
    if (this.i < this.p.length) throw new Error('unbalanced');
    return info;
  }

  private alternation(): Info {
    let info = this.sequence();
    while (this.p[this.i] === '|') {
      this.i++;
      info = alternate(info, this.sequence());
    }
    return info;
  }

  private sequence(): Info {
    let info = EMPTY;
    while (this.i < this.p.length && this.p[this.i] !== '|' && this.p[this.i] !== ')') info = concat(info, this.quantified(this.atom()));
    return info;
  }

  private quantified(atom: Info): Info {
    const c = this.p[this.i];
    let min: number;
    if (c === '?') {
      this.i++;
      this.lazy();
      return alternate(atom, EMPTY);
    }
    if (c === '*' || c === '+') {
      this.i++;
      min = c === '+' ? 1 : 0;
    } else if (c === '{' && /^\{\d*(?:,\d*)?\}/.test(this.p.slice(this.i))) {
      const m = /^\{(\d*)(,?)(\d*)\}/.exec(this.p.slice(this.i))!;
      this.i += m[0].length;
      min = Number(m[1] || 0);
      if (m[2] === '' && min === 1) { this.lazy(); return atom; }
    } else return atom;
    this.lazy();
    return min === 0 ? UNKNOWN : { exact: undefined, must: constraint(atom) };
  }

  private lazy(): void {
    if (this.p[this.i] === '?' || this.p[this.i] === '+') this.i++;
  }

  private atom(): Info {
    const c = this.p[this.i++]!;
    if (c === '(') return this.group();
    if (c === '[') return this.charClass();
    if (c === '\\') return this.escape();
    if (c === '.') return UNKNOWN;
    if (c === '^' || c === '$') return EMPTY;
    return literal(c);
  }

  private group(): Info {
    if (this.p[this.i] === '?') {
      // (?:…), (?i), (?i:…), (?P<n>…), (?<n>…)
      const flags = /^\?(?:P?<[A-Za-z_]\w*>|[a-zA-Z-]*:|[a-zA-Z-]*\))/.exec(this.p.slice(this.i));
      if (flags === null) throw new Error('group');
      this.i += flags[0].length;
      if (flags[0].endsWith(')')) return EMPTY;
    }
    const info = this.alternation();
    if (this.p[this.i++] !== ')') throw new Error('unbalanced');
    return info;
  }

  private escape(): Info {
    const c = this.p[this.i++];
    if (c === undefined) throw new Error('escape');
    if ('bBAzZG'.includes(c)) return EMPTY;
    if ('dDwWsShHvVpPRXK'.includes(c)) {
      if ((c === 'p' || c === 'P') && this.p[this.i] === '{') this.i = this.p.indexOf('}', this.i) + 1;
      else if (c === 'p' || c === 'P') this.i++;
      return UNKNOWN;
    }
    if (c === 'x') {
      const m = /^(?:\{([0-9a-fA-F]+)\}|([0-9a-fA-F]{1,2}))/.exec(this.p.slice(this.i));
      if (m === null) return UNKNOWN;
      this.i += m[0].length;
      return literal(String.fromCodePoint(parseInt(m[1] ?? m[2]!, 16)));
    }
    if (c === 'Q') {
      const end = this.p.indexOf('\\E', this.i);
      const text = this.p.slice(this.i, end < 0 ? undefined : end);
      this.i = end < 0 ? this.p.length : end + 2;
      return literal(text);
    }
    const named: Record<string, string> = { n: '\n', r: '\r', t: '\t', f: '\f', e: '\x1b', a: '\x07' };
    if (named[c] !== undefined) return literal(named[c]);
    if (/[0-9a-zA-Z]/.test(c)) return UNKNOWN; // octal, back references, control escapes: imposes nothing
    return literal(c);
  }

  /** A class enumerating a few characters is their set; anything else is unknown. */
  private charClass(): Info {
    const start = this.i;
    const negated = this.p[this.i] === '^';
    if (negated) this.i++;
    const chars = new Set<string>();
    let known = !negated;
    let first = true;
    while (this.i < this.p.length && (this.p[this.i] !== ']' || first)) {
      first = false;
      let c = this.p[this.i++]!;
      if (c === '[' && this.p[this.i] === ':') {
        this.i = this.p.indexOf(':]', this.i) + 2;
        known = false;
        continue;
      }
      if (c === '\\') {
        const e = this.p[this.i++]!;
        if (/[a-zA-Z0-9]/.test(e)) {
          known = false;
          if (e === 'x' && this.p[this.i] === '{') this.i = this.p.indexOf('}', this.i) + 1;
          else if (e === 'x') this.i += 2;
          else if ((e === 'p' || e === 'P') && this.p[this.i] === '{') this.i = this.p.indexOf('}', this.i) + 1;
          continue;
        }
        c = e;
      }
      if (this.p[this.i] === '-' && this.p[this.i + 1] !== ']' && this.i + 1 < this.p.length) {
        this.i++;
        let hi = this.p[this.i++]!;
        if (hi === '\\') { hi = this.p[this.i++]!; if (/[a-zA-Z0-9]/.test(hi)) known = false; }
        const lo = c.charCodeAt(0);
        const top = hi.charCodeAt(0);
        if (top - lo > 8) known = false;
        else for (let k = lo; k <= top; k++) chars.add(String.fromCharCode(k).toLowerCase());
        continue;
      }
      chars.add(c.toLowerCase());
    }
    if (this.p[this.i++] !== ']') throw new Error(`class at ${start}`);
    return known && chars.size > 0 && chars.size <= 8 ? { exact: chars, must: undefined } : UNKNOWN;
  }
}

/**
 * Lower-case strings one of which every match of `pattern` (PCRE syntax) contains, or
 * undefined when none is known (or the pattern is beyond this reader).
 */
export function requiredLiterals(pattern: string): string[] | undefined {
  // Extended mode makes whitespace insignificant: this reader would require it.
  if (/\(\?[a-zA-Z-]*x/.test(pattern)) return undefined;
  let info: Info;
  try {
    info = new Parser(pattern).parse();
  } catch {
    return undefined;
  }
  const set = constraint(info);
  if (set === undefined || set.size === 0 || set.has('')) return undefined;
  return [...set];
}
