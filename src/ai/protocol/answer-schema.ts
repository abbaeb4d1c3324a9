// JSON Schemas a user configures for a model's answer (ai-json's `jsonSchema`): draft-07,
// or draft-04 for Swagger's. Their `pattern`s run on RE2 (linear time) as request-validation's
// do, since the answer they check comes from a model steered by the client.
import AjvModule, { type ValidateFunction } from 'ajv';
import Ajv04Module from 'ajv-draft-04';
import { compilePcre } from '../../core/expr/pcre.js';

export type SchemaDraft = 'draft-07' | 'draft-04';

type AjvCtor = typeof AjvModule.default;
const Ajv07: AjvCtor = ((AjvModule as unknown as { default?: AjvCtor }).default ?? AjvModule) as AjvCtor;
type Ajv04Ctor = typeof Ajv04Module.default;
const Ajv04: Ajv04Ctor = ((Ajv04Module as unknown as { default?: Ajv04Ctor }).default ?? Ajv04Module) as Ajv04Ctor;

const regExp = Object.assign((pattern: string) => compilePcre(pattern, false), { code: 'compilePcre' });
const options = { strict: false, allErrors: false, allowUnionTypes: true, addUsedSchema: false, code: { regExp } } as const;
const validators = { 'draft-07': new Ajv07(options), 'draft-04': new Ajv04(options) };

/** Compiles `schema` for `draft`; throws an error naming `field` when it is no valid schema. */
export function compileAnswerSchema(schema: Record<string, unknown>, draft: SchemaDraft, field: string): ValidateFunction {
  const ajv = validators[draft];
  try {
    const validate = ajv.compile(schema);
    ajv.removeSchema(schema); // the function stays usable; a cached entry would outlive the config
    return validate;
  } catch (err) {
    throw new Error(`${field}: the ${draft} schema does not compile: ${(err as Error).message}`);
  }
}

/** The first error of the last validation, as `<path> <message>`. */
export function answerSchemaError(validate: ValidateFunction): string {
  const e = validate.errors?.[0];
  return e === undefined ? 'does not match' : `${e.instancePath === '' ? '/' : e.instancePath} ${e.message ?? 'is invalid'}`;
}

/** Higress's schema depth: the root is 1, each value inside an object or array one more. */
export function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > max) max = depth;
    if (typeof v === 'object' && v !== null) for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return max;
}
