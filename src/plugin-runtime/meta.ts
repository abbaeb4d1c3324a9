import { exprVariables, usesBodyVariable } from '../core/expr/index.js';
import type { Stage } from '../contracts/plugin.js';
import { STAGE_ALIASES } from '../contracts/plugin.js';
import { compileExpr, isKnownVariable, type CompiledExpr } from '../core/expr/index.js';

/** The `_meta` object the runtime injects into every plugin's schema. */
export const META_SCHEMA = {
  type: 'object',
  properties: {
    disable: { type: 'boolean' },
    error_response: { oneOf: [{ type: 'string' }, { type: 'object' }] },
    priority: { type: 'integer', description: 'priority of this instance within its stage; larger runs first' },
    stage: { type: 'string', enum: Object.keys(STAGE_ALIASES), description: 'Gatehouse extension: the stage of this instance' },
    filter: { type: 'array', description: 'lua-resty-expr rule; the instance runs only when it matches' },
  },
  additionalProperties: false,
} as const;

export interface MetaConf {
  disable?: boolean;
  error_response?: string | Record<string, unknown>;
  priority?: number;
  stage?: string;
  filter?: unknown[];
}

export interface CompiledMeta {
  disabled: boolean;
  errorResponse: Buffer | undefined;
  errorResponseIsJson: boolean;
  priority: number | undefined;
  stage: Stage | undefined;
  filter: CompiledExpr | undefined;
  /** The filter names a body variable (`post_arg_*`, `request_body`, `graphql_*`): the body is read before it is evaluated. */
  filterReadsBody: boolean;
}

/** Returns the schema with `_meta` added (a plugin schema never declares it itself). */
export function injectMeta(schema: Record<string, unknown>): Record<string, unknown> {
  const props = (schema.properties ?? {}) as Record<string, unknown>;
  if ('_meta' in props) throw new Error("found forbidden '_meta' field in the schema");
  return { ...schema, type: schema.type ?? 'object', properties: { ...props, _meta: META_SCHEMA } };
}

/** Compiles `_meta` once per snapshot. Unknown operators or variables in `filter` throw (refused at write time). */
export function compileMeta(meta: MetaConf | undefined): CompiledMeta {
  const m = meta ?? {};
  let errorResponse: Buffer | undefined;
  let errorResponseIsJson = false;
  if (typeof m.error_response === 'string') errorResponse = Buffer.from(m.error_response);
  else if (m.error_response !== undefined) {
    errorResponse = Buffer.from(JSON.stringify(m.error_response) + '\n');
    errorResponseIsJson = true;
  }
  return {
    disabled: m.disable === true,
    errorResponse,
    errorResponseIsJson,
    priority: m.priority,
    stage: m.stage !== undefined ? STAGE_ALIASES[m.stage] : undefined,
    filter: m.filter !== undefined && m.filter.length > 0 ? compileExpr(m.filter, { checkVariable: isKnownVariable }) : undefined,
    filterReadsBody: m.filter !== undefined && m.filter.length > 0 && usesBodyVariable(exprVariables(m.filter)),
  };
}
