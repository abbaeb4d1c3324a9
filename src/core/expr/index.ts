export { compileExpr, ExprError } from './expr.js';
export type { CompiledExpr, CompileExprOptions } from './expr.js';
export { isKnownVariable, registerVariable, VARIABLE_PREFIXES } from './variables.js';
