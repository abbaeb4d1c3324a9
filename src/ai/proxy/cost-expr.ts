// ai-rate-limiting's `cost_expr`: the Lua arithmetic APISIX evaluates over a provider's raw
// usage (`input_tokens + cache_creation_input_tokens + output_tokens`), parsed here once at
// config time into a tree of closures — no eval. Numbers, usage fields by bare name (a
// missing one is 0), + - * / % ^ with Lua's precedence and modulo, unary minus, parentheses,
// and the functions APISIX's environment offers: abs, ceil, floor, max, min and `math.*`.

export type CostFn = (field: (name: string) => number) => number;

const MATH_FUNCTIONS: Record<string, (...args: number[]) => number> = {
  abs: Math.abs,
  ceil: Math.ceil,
  floor: Math.floor,
  max: (...a) => Math.max(...a),
  min: (...a) => Math.min(...a),
  sqrt: Math.sqrt,
  exp: Math.exp,
  log: (x, base) => (base === undefined ? Math.log(x) : Math.log(x) / Math.log(base)),
  log10: Math.log10,
  pow: (x, y) => x ** (y ?? NaN),
  fmod: (x, y) => x % (y ?? NaN),
};
const MATH_CONSTANTS: Record<string, number> = { pi: Math.PI, huge: Infinity };
/** Functions callable without `math.` (APISIX's expr_safe_env). */
const BARE_FUNCTIONS = new Set(['abs', 'ceil', 'floor', 'max', 'min']);
const MAX_DEPTH = 64;

type Token = { kind: 'num'; value: number; at: number } | { kind: 'name' | 'op'; text: string; at: number } | { kind: 'end'; at: number };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const re = /(0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|([-+*/%^(),.])/y;
  let at = 0;
  for (;;) {
    while (at < src.length && /\s/.test(src[at]!)) at++;
    if (at >= src.length) break;
    re.lastIndex = at;
    const m = re.exec(src);
    if (m === null) throw new Error(`unexpected symbol near '${src[at]}' at ${at + 1}`);
    if (m[1] !== undefined) out.push({ kind: 'num', value: Number(m[1]), at });
    else if (m[2] !== undefined) out.push({ kind: 'name', text: m[2], at });
    else out.push({ kind: 'op', text: m[3]!, at });
    at = re.lastIndex;
  }
  out.push({ kind: 'end', at: src.length });
  return out;
}

const LUA_KEYWORDS = new Set(['and', 'or', 'not', 'nil', 'true', 'false', 'function', 'end', 'if', 'then', 'else', 'return', 'local']);

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): CostFn {
    const fn = this.sum();
    const t = this.peek();
    if (t.kind !== 'end') throw this.unexpected(t);
    return fn;
  }

  private peek(): Token { return this.tokens[this.i]!; }
  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.text === text;
  }
  private expect(text: string): void {
    if (!this.isOp(text)) throw new Error(`'${text}' expected near ${describe(this.peek())}`);
    this.i++;
  }
  private unexpected(t: Token): Error { return new Error(`unexpected symbol near ${describe(t)}`); }

  private sum(): CostFn {
    if (++this.depth > MAX_DEPTH) throw new Error('expression nests too deeply');
    let left = this.product();
    while (this.isOp('+') || this.isOp('-')) {
      const plus = (this.tokens[this.i++] as { text: string }).text === '+';
      const l = left;
      const r = this.product();
      left = plus ? (f) => l(f) + r(f) : (f) => l(f) - r(f);
    }
    this.depth--;
    return left;
  }

  private product(): CostFn {
    let left = this.unary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = (this.tokens[this.i++] as { text: string }).text;
      const l = left;
      const r = this.unary();
      left = op === '*' ? (f) => l(f) * r(f)
        : op === '/' ? (f) => l(f) / r(f)
          : (f) => { const a = l(f); const b = r(f); return a - Math.floor(a / b) * b; }; // Lua's modulo
    }
    return left;
  }

  private unary(): CostFn {
    if (this.isOp('-')) {
      this.i++;
      const operand = this.unary();
      return (f) => -operand(f);
    }
    return this.power();
  }

  /** `^` binds tighter than unary minus on its left and is right-associative (Lua). */
  private power(): CostFn {
    const base = this.atom();
    if (!this.isOp('^')) return base;
    this.i++;
    const exponent = this.unary();
    return (f) => base(f) ** exponent(f);
  }

  private atom(): CostFn {
    const t = this.peek();
    if (t.kind === 'num') {
      this.i++;
      return () => t.value;
    }
    if (this.isOp('(')) {
      this.i++;
      const inner = this.sum();
      this.expect(')');
      return inner;
    }
    if (t.kind !== 'name' || LUA_KEYWORDS.has(t.text)) throw this.unexpected(t);
    this.i++;
    if (t.text === 'math') {
      this.expect('.');
      const member = this.peek();
      if (member.kind !== 'name') throw this.unexpected(member);
      this.i++;
      if (member.text in MATH_CONSTANTS && !this.isOp('(')) {
        const value = MATH_CONSTANTS[member.text]!;
        return () => value;
      }
      const fn = MATH_FUNCTIONS[member.text];
      if (fn === undefined) throw new Error(`math.${member.text} is not an available function`);
      return this.call(fn);
    }
    if (this.isOp('(')) {
      if (!BARE_FUNCTIONS.has(t.text)) throw new Error(`${t.text} is not an available function (abs, ceil, floor, max, min, math.*)`);
      return this.call(MATH_FUNCTIONS[t.text]!);
    }
    if (BARE_FUNCTIONS.has(t.text)) throw new Error(`${t.text} is a function, not a number`);
    const name = t.text;
    return (f) => f(name);
  }

  private call(fn: (...args: number[]) => number): CostFn {
    this.expect('(');
    const args: CostFn[] = [];
    if (!this.isOp(')')) {
      args.push(this.sum());
      while (this.isOp(',')) {
        this.i++;
        args.push(this.sum());
      }
    }
    this.expect(')');
    if (args.length === 0) throw new Error('a function needs at least one argument');
    return (f) => fn(...args.map((a) => a(f)));
  }
}

function describe(t: Token): string {
  return t.kind === 'end' ? '<eof>' : `'${t.kind === 'num' ? String(t.value) : t.text}' at ${t.at + 1}`;
}

/** Compiles `source`; throws an Error whose message says what is wrong (APISIX prefixes `invalid cost_expr: `). */
export function compileCostExpr(source: string): CostFn {
  return new Parser(tokenize(source)).parse();
}

/**
 * The usage's numeric leaves by bare name, breadth first so shallower keys win, keys sorted
 * at each depth (APISIX's inject_usage_vars): `prompt_tokens_details.cached_tokens` is `cached_tokens`.
 */
export function usageFields(raw: Record<string, unknown> | undefined): Map<string, number> {
  const fields = new Map<string, number>();
  let level: Record<string, unknown>[] = raw === undefined ? [] : [raw];
  for (let depth = 0; level.length > 0 && depth < 8; depth++) {
    const next: Record<string, unknown>[] = [];
    for (const o of level) {
      for (const k of Object.keys(o).sort()) {
        const v = o[k];
        if (typeof v === 'number') {
          if (!fields.has(k)) fields.set(k, v);
        } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
          next.push(v as Record<string, unknown>);
        }
      }
    }
    level = next;
  }
  return fields;
}

/** The cost of a usage: rounded, floored at 0; throws when the result is not a finite number. */
export function evaluateCost(fn: CostFn, fields: ReadonlyMap<string, number>): number {
  const result = fn((name) => fields.get(name) ?? 0);
  if (!Number.isFinite(result)) throw new Error('cost_expr returned non-finite value');
  return result < 0 ? 0 : Math.floor(result + 0.5);
}
