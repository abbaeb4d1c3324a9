// request-validation: checks the request's headers and body against JSON Schemas before
// it goes upstream (APISIX's request-validation). Headers are an object of lower-case
// names; the body is decoded as form arguments when its Content-Type says
// application/x-www-form-urlencoded, else as JSON. A refusal is `rejected_code` with
// `rejected_msg`, or the validator's message. The body comes through the bounded request
// body API (node.max_buffered_body_size, 413 past it), and a JSON body that passes is
// re-encoded, so the upstream sees the same keys the schema checked (a duplicated key
// cannot carry one value past the check and another to the upstream).
//
// The user's schemas get their own ajv instance because their `pattern`s run on RE2
// (linear time), not on the backtracking RegExp the project's own schemas use.
import AjvModule, { type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { compilePcre } from '../core/expr/pcre.js';
import { formatSchemaError } from '../core/schema.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { setLoggedText } from './common/observe.js';

export interface RequestValidationConf {
  header_schema?: Record<string, unknown>;
  body_schema?: Record<string, unknown>;
  rejected_code: number;
  rejected_msg?: string;
}

interface RequestValidationPrepared {
  header: ValidateFunction | undefined;
  body: ValidateFunction | undefined;
  status: number;
  message: string | undefined;
}

type AjvCtor = typeof AjvModule.default;
const Ajv: AjvCtor = ((AjvModule as unknown as { default?: AjvCtor }).default ?? AjvModule) as AjvCtor;
type AddFormats = typeof addFormatsModule.default;
const addFormats: AddFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default
  ?? addFormatsModule) as AddFormats;

const re2Engine = Object.assign((pattern: string) => compilePcre(pattern, false), { code: 'compilePcre' });

const userSchemas = new Ajv({
  strict: false,
  allErrors: false,
  verbose: true, // formatSchemaError reads `data` and `schema` from the errors
  allowUnionTypes: true,
  // A user schema's `$id` must not clash with another route's, nor stay after its config goes.
  addUsedSchema: false,
  code: { regExp: re2Engine },
});
addFormats(userSchemas);

function compileUserSchema(schema: Record<string, unknown>, field: string): ValidateFunction {
  let validate: ValidateFunction;
  try {
    validate = userSchemas.compile(schema);
  } catch (err) {
    throw new Error(`invalid ${field}: ${(err as Error).message}`);
  }
  userSchemas.removeSchema(schema); // the compiled function stays usable; the cache entry would leak per config
  return validate;
}

function formArgs(body: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(body)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/**
 * For access logs: which check refused the request and why, `header_schema: <message>` or
 * `body_schema: <message>`, at most MAX_LOGGED_TEXT characters (the message quotes the
 * client's data).
 */
registerVariable('request_validation_error');

function reject(p: RequestValidationPrepared, ctx: PluginContext, field: 'header_schema' | 'body_schema', reason: string): PhaseResult {
  setLoggedText(ctx, 'request_validation_error', `${field}: ${reason}`);
  return { status: p.status, body: p.message ?? reason };
}

function check(validate: ValidateFunction, data: unknown): string | undefined {
  return validate(data) ? undefined : formatSchemaError(validate.errors, data, validate.schema);
}

export default definePlugin<RequestValidationConf, RequestValidationPrepared>({
  name: 'request-validation',
  description: 'Validates request headers and JSON or form bodies against JSON Schemas before they reach the upstream.',
  version: '0.1',
  stage: 'authorization',
  priority: 220,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header_schema: { type: 'object' },
      body_schema: { type: 'object' },
      rejected_code: { type: 'integer', minimum: 200, maximum: 599, default: 400 },
      rejected_msg: { type: 'string', minLength: 1, maxLength: 256 },
    },
    anyOf: [{ required: ['header_schema'] }, { required: ['body_schema'] }],
  },

  prepare(conf) {
    return {
      header: conf.header_schema === undefined ? undefined : compileUserSchema(conf.header_schema, 'header_schema'),
      body: conf.body_schema === undefined ? undefined : compileUserSchema(conf.body_schema, 'body_schema'),
      status: conf.rejected_code ?? 400,
      message: conf.rejected_msg,
    };
  },

  // Synchronous for a header schema alone: a promise costs the runner a settle per request.
  rewrite(p, ctx) {
    if (p.header !== undefined) {
      const failure = check(p.header, ctx.request.allHeaders?.() ?? {});
      if (failure !== undefined) return reject(p, ctx, 'header_schema', failure);
    }
    if (p.body === undefined) return undefined;
    return checkBody(p, p.body, ctx);
  },
});

async function checkBody(p: RequestValidationPrepared, body: ValidateFunction, ctx: PluginContext): Promise<PhaseResult | undefined> {
  const raw = await ctx.request.body();
  if (raw.length === 0) return reject(p, ctx, 'body_schema', 'missing request body');
  const text = raw.toString('utf8');
  const type = ctx.request.header('content-type') ?? '';
  if (type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    const failure = check(body, formArgs(text));
    return failure === undefined ? undefined : reject(p, ctx, 'body_schema', failure);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return reject(p, ctx, 'body_schema', `invalid JSON body: ${(err as Error).message}`);
  }
  const failure = check(body, data);
  if (failure !== undefined) return reject(p, ctx, 'body_schema', failure);
  ctx.request.setBody(JSON.stringify(data));
  return undefined;
}
