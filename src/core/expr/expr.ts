// lua-resty-expr v1 (1.3.2) rules, compiled once into a tree of predicates so that
// evaluating a rule per request only reads variables and compares: no parsing, no
// regex compilation, no closures created.
//
// One deliberate widening: APISIX variables are always strings, while a VarLookup may
// return a number (e.g. `status`). A number on the left therefore also equals its
// decimal string, so `["status", "==", "200"]` holds for 200 as it does in APISIX.
import type { VarLookup } from '../../contracts/router.js';
import { compileIpMatcher } from '../ip-matcher.js';
import { ExprError } from './expr-error.js';
import { luaToNumber } from './lua-number.js';
import { compilePcre } from './pcre.js';

export { ExprError } from './expr-error.js';

export type CompiledExpr = (vars: VarLookup) => boolean;

export interface CompileExprOptions {
  /** Return false to refuse the rule with `unknown variable '<name>'`, or a string: the message to refuse it with. */
  checkVariable?: (name: string) => boolean | string;
}

const LOGICAL_OPS = new Set(['AND', 'OR', '!AND', '!OR']);
const OPERATORS = new Set(['==', '~=', '>', '>=', '<', '<=', '~~', '~*', 'in', 'has', 'ipmatch']);

const alwaysTrue: CompiledExpr = () => true;
const alwaysFalse: CompiledExpr = () => false;

function isNil(v: unknown): boolean {
  return v === undefined || v === null;
}

/** Raw (Lua `==`) equality, widened so a numeric variable equals its decimal string. */
function rawEquals(left: unknown, right: unknown): boolean {
  return left === right || (typeof left === 'number' && typeof right === 'string' && String(left) === right);
}

/**
 * Compiles a lua-resty-expr rule (the `vars` of a route, `_meta.filter`, …).
 * An empty rule is always true. Throws ExprError with lua-resty-expr's wording.
 */
export function compileExpr(rule: unknown, opts?: CompileExprOptions): CompiledExpr {
  if (rule === undefined || rule === null) throw new ExprError('missing argument rule');
  if (!Array.isArray(rule)) throw new ExprError('rule should be wrapped inside brackets');
  if (rule.length === 0) return alwaysTrue;
  const first: unknown = rule[0];
  if (!Array.isArray(first) && !(typeof first === 'string' && LOGICAL_OPS.has(first.toUpperCase()))) {
    throw new ExprError('rule should be wrapped inside brackets');
  }
  return compileNode(rule, opts?.checkVariable);
}

function compileNode(node: unknown, check: ((name: string) => boolean | string) | undefined): CompiledExpr {
  if (!Array.isArray(node)) throw new ExprError('invalid expression');
  if (node.length === 0) throw new ExprError('rule too short');
  const first: unknown = node[0];
  if (Array.isArray(first)) {
    return combine('AND', node.map((child) => compileNode(child, check)));
  }
  if (typeof first === 'string') {
    const logical = first.toUpperCase();
    if (LOGICAL_OPS.has(logical)) {
      if (node.length <= 2) throw new ExprError('rule too short');
      return combine(logical, node.slice(1).map((child) => compileNode(child, check)));
    }
  }
  return compileComparison(node, check);
}

function combine(op: string, children: CompiledExpr[]): CompiledExpr {
  const n = children.length;
  let all: CompiledExpr;
  if (op === 'AND' || op === '!AND') {
    if (n === 1) all = children[0]!;
    else if (n === 2) {
      const [a, b] = children as [CompiledExpr, CompiledExpr];
      all = (v) => a(v) && b(v);
    } else {
      all = (v) => {
        for (let i = 0; i < n; i++) if (!children[i]!(v)) return false;
        return true;
      };
    }
  } else if (n === 2) {
    const [a, b] = children as [CompiledExpr, CompiledExpr];
    all = (v) => a(v) || b(v);
  } else {
    all = (v) => {
      for (let i = 0; i < n; i++) if (children[i]!(v)) return true;
      return false;
    };
  }
  if (op[0] === '!') {
    const inner = all;
    return (v) => !inner(v);
  }
  return all;
}

function compileComparison(expr: unknown[], check: ((name: string) => boolean | string) | undefined): CompiledExpr {
  let name: unknown;
  let rawOp: unknown;
  let right: unknown;
  let negate = false;
  if (expr.length === 4) {
    if (expr[1] !== '!') throw new ExprError("bad 'not' expression");
    negate = true;
    [name, , rawOp, right] = expr;
  } else if (expr.length === 3) {
    [name, rawOp, right] = expr;
  } else if (expr.length === 2) {
    // The legacy `[var, value]` form means `==`, unless the value names an operator,
    // which lua-resty-expr then applies with a nil right-hand side.
    name = expr[0];
    const second = expr[1];
    if (typeof second === 'string' && OPERATORS.has(second.toLowerCase())) rawOp = second;
    else {
      rawOp = '==';
      right = second;
    }
  } else {
    throw new ExprError('invalid expression');
  }
  if (typeof name !== 'string' || name === '') throw new ExprError('invalid expression');
  if (typeof rawOp !== 'string') throw new ExprError(`invalid operator '${String(rawOp)}'`);
  const op = rawOp.toLowerCase();
  if (!OPERATORS.has(op)) throw new ExprError(`invalid operator '${op}'`);
  if (check !== undefined) {
    const verdict = check(name);
    if (verdict !== true) throw new ExprError(typeof verdict === 'string' ? verdict : `unknown variable '${name}'`);
  }
  if (right === null) right = undefined;

  const test = compileOperator(name, op, right);
  if (!negate) return test;
  return (v) => !test(v);
}

function compileOperator(name: string, op: string, right: unknown): CompiledExpr {
  switch (op) {
    case '==':
      return compileEquals(name, right);
    case '~=': {
      const eq = compileEquals(name, right);
      return (v) => !eq(v);
    }
    case '>':
    case '>=':
    case '<':
    case '<=':
      return compileNumeric(name, op, right);
    case '~~':
    case '~*': {
      if (typeof right !== 'string' && typeof right !== 'number') {
        throw new ExprError(`invalid regex '${String(right)}': the pattern must be a string`);
      }
      const re = compilePcre(String(right), op === '~*');
      return (v) => {
        const left = v(name);
        if (typeof left === 'string') return re.test(left);
        if (typeof left === 'number') return re.test(String(left));
        return false;
      };
    }
    case 'in': {
      if (!Array.isArray(right)) return alwaysFalse;
      const items = right.filter((item) => !isNil(item));
      const n = items.length;
      return (v) => {
        const left = v(name);
        if (isNil(left)) return false;
        for (let i = 0; i < n; i++) if (rawEquals(left, items[i])) return true;
        return false;
      };
    }
    case 'has': {
      if (right === undefined) return alwaysFalse;
      return (v) => {
        const left = v(name);
        if (!Array.isArray(left)) return false;
        for (let i = 0; i < left.length; i++) if (rawEquals(left[i], right)) return true;
        return false;
      };
    }
    case 'ipmatch':
      return compileIpMatch(name, right);
    default:
      throw new ExprError(`invalid operator '${op}'`);
  }
}

function compileEquals(name: string, right: unknown): CompiledExpr {
  if (right === undefined) return (v) => isNil(v(name));
  if (typeof right === 'number') {
    return (v) => {
      const left = luaToNumber(v(name));
      return left !== undefined && left === right;
    };
  }
  // Lua compares tables by identity, so a table on the right never equals a variable.
  if (typeof right === 'object') return alwaysFalse;
  return (v) => rawEquals(v(name), right);
}

function compileNumeric(name: string, op: string, right: unknown): CompiledExpr {
  const r = luaToNumber(right);
  if (r === undefined) return alwaysFalse;
  switch (op) {
    case '>':
      return (v) => {
        const l = luaToNumber(v(name));
        return l !== undefined && l > r;
      };
    case '>=':
      return (v) => {
        const l = luaToNumber(v(name));
        return l !== undefined && l >= r;
      };
    case '<':
      return (v) => {
        const l = luaToNumber(v(name));
        return l !== undefined && l < r;
      };
    default:
      return (v) => {
        const l = luaToNumber(v(name));
        return l !== undefined && l <= r;
      };
  }
}

function compileIpMatch(name: string, right: unknown): CompiledExpr {
  if (right === undefined || right === '') throw new ExprError('invalid ip address');
  const list = Array.isArray(right) ? right : [right];
  if (list.length === 0) throw new ExprError('invalid ip address');
  let matches: (ip: string) => boolean;
  try {
    matches = compileIpMatcher(list as string[]);
  } catch (err) {
    throw new ExprError((err as Error).message, { cause: err });
  }
  return (v) => {
    const left = v(name);
    return typeof left === 'string' && matches(left);
  };
}
