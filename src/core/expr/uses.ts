// Which variables a rule reads, so the lifecycle can tell whether a route needs its
// request body buffered (a `vars` rule or `_meta.filter` naming a body variable).
import { compileExpr } from './expr.js';
import { isBodyVariable } from './variables.js';

/** The variable names a lua-resty-expr rule reads, in order (throws as compileExpr does on a bad rule). */
export function exprVariables(rule: unknown): string[] {
  const names: string[] = [];
  compileExpr(rule, { checkVariable: (name) => { names.push(name); return true; } });
  return names;
}

/** True when any of `names` reads the request body (see BODY_VARIABLES). */
export function usesBodyVariable(names: Iterable<string>): boolean {
  for (const name of names) if (isBodyVariable(name)) return true;
  return false;
}
