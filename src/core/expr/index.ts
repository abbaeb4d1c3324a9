export { compileExpr, ExprError } from './expr.js';
export type { CompiledExpr, CompileExprOptions } from './expr.js';
export {
  isKnownVariable, isResponseVariable, checkRouteVariable, isBodyVariable, checkVariables, registerVariable, VARIABLE_PREFIXES,
  registerMatchTimeVariable, matchTimeOwnerOf,
  REQUEST_VARIABLES, RESPONSE_VARIABLES, PLUGIN_VARIABLES, REQUEST_VARIABLE_PREFIXES, RESPONSE_VARIABLE_PREFIXES,
  BODY_VARIABLES, BODY_VARIABLE_PREFIXES, STREAM_VARIABLES, isStreamVariable,
} from './variables.js';
export { exprVariables, usesBodyVariable } from './uses.js';
