// degraphql: serves a GraphQL operation as a plain REST endpoint (APISIX's degraphql). The
// route's `query` is sent upstream as a GraphQL POST, its `variables` filled from the
// client's query arguments (GET) or the members of its JSON body (POST). The query is
// parsed and checked once per config (the schema-independent GraphQL validation rules:
// executable definitions only, unique and resolvable operations, fragments and variables).
//
// Gatehouse difference: APISIX forwards a GET as a GraphQL GET (query, operationName and
// variables in the query string); Gatehouse sends every request as a POST, which every
// GraphQL-over-HTTP server accepts, mutations included. The client's query string is not
// forwarded for a GET (it held the variables); for a POST it stays, as in APISIX.
import { createRequire } from 'node:module';
import type { PhaseResult, PluginContext } from '../contracts/plugin.js';
import { registerVariable } from '../core/expr/index.js';
import { definePlugin } from '../plugin-runtime/define-plugin.js';

export interface DegraphqlConf {
  query: string;
  operation_name?: string;
  variables?: string[];
}

export interface DegraphqlPrepared {
  query: string;
  operationName: string | undefined;
  variables: string[] | undefined;
}

/** For access logs: why a request was refused (bad method, missing or non-object JSON body). */
registerVariable('degraphql_error');

type GraphqlModule = typeof import('graphql');
let graphqlModule: GraphqlModule | undefined;
let placeholderSchema: import('graphql').GraphQLSchema | undefined;

// The whole graphql library (parser and validator), loaded when the first degraphql
// config is prepared: a worker without one pays nothing at start.
function graphql(): GraphqlModule {
  graphqlModule ??= createRequire(import.meta.url)('graphql') as GraphqlModule;
  return graphqlModule;
}

/** The messages of the validation rules that need no schema (the upstream's is unknown). */
function checkQuery(query: string): { operations: (string | undefined)[] } {
  const g = graphql();
  let doc: import('graphql').DocumentNode;
  try {
    doc = g.parse(query, { noLocation: true });
  } catch (err) {
    throw new Error(`failed to parse query: ${(err as Error).message}`);
  }
  // validate() wants a schema; these rules never look at it.
  placeholderSchema ??= new g.GraphQLSchema({
    query: new g.GraphQLObjectType({ name: 'Query', fields: { unused: { type: g.GraphQLString } } }),
  });
  const errors = g.validate(placeholderSchema, doc, [
    g.ExecutableDefinitionsRule, g.UniqueOperationNamesRule, g.LoneAnonymousOperationRule,
    g.KnownFragmentNamesRule, g.UniqueFragmentNamesRule, g.NoUnusedFragmentsRule, g.NoFragmentCyclesRule,
    g.UniqueVariableNamesRule, g.NoUndefinedVariablesRule, g.NoUnusedVariablesRule,
  ]);
  if (errors.length > 0) throw new Error(`invalid query: ${errors.map((e) => e.message).join(' ')}`);
  const operations = doc.definitions.flatMap((d) => (d.kind === g.Kind.OPERATION_DEFINITION ? [d.name?.value] : []));
  return { operations };
}

export default definePlugin<DegraphqlConf, DegraphqlPrepared>({
  name: 'degraphql',
  description: 'Turns a plain REST request into a GraphQL POST of a configured query to the upstream.',
  version: '0.1',
  stage: 'authorization',
  priority: 430,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      query: { type: 'string', minLength: 1, maxLength: 1024 },
      variables: { type: 'array', minItems: 1, maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 256 } },
      operation_name: { type: 'string', minLength: 1, maxLength: 1024 },
    },
    required: ['query'],
  },

  prepare(conf) {
    const { operations } = checkQuery(conf.query);
    if (operations.length > 1 && conf.operation_name === undefined) {
      throw new Error('operation_name is required if multiple operations are present in the query');
    }
    if (conf.operation_name !== undefined && !operations.includes(conf.operation_name)) {
      throw new Error(`operation_name "${conf.operation_name}" names no operation of the query`);
    }
    return { query: conf.query, operationName: conf.operation_name, variables: conf.variables };
  },

  async access(p, ctx) {
    const method = ctx.request.method;
    if (method !== 'GET' && method !== 'POST') return refuse(ctx, 405, `method ${method} is not GET or POST`);
    let variables: Record<string, unknown> | undefined;
    if (p.variables !== undefined) {
      if (method === 'POST') {
        const body = await jsonBodyObject(ctx);
        if (typeof body === 'string') return refuse(ctx, 400, body);
        variables = pick(p.variables, (name) => (Object.hasOwn(body, name) ? body[name] : undefined));
      } else {
        const args = queryArgs(ctx);
        variables = pick(p.variables, (name) => {
          const values = args.getAll(name);
          return values.length > 1 ? values : values[0];
        });
      }
    }
    ctx.request.setBody(JSON.stringify({ query: p.query, operationName: p.operationName, variables }));
    ctx.request.setHeader('content-type', 'application/json');
    ctx.request.upstreamMethod = 'POST';
    if (method === 'GET') {
      const q = ctx.request.upstreamUri.indexOf('?');
      if (q !== -1) ctx.request.upstreamUri = ctx.request.upstreamUri.slice(0, q);
    }
    return undefined;
  },
});

function refuse(ctx: PluginContext, status: number, reason: string): PhaseResult {
  ctx.setVar('degraphql_error', reason);
  return { status, body: { message: reason } };
}

/** The request's JSON body as an object, or why it is not one. */
async function jsonBodyObject(ctx: PluginContext): Promise<Record<string, unknown> | string> {
  const raw = await ctx.request.body();
  if (raw.length === 0) return 'missing request body';
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return 'invalid request body: not JSON';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'invalid request body: not a JSON object';
  return body as Record<string, unknown>;
}

/** The client's query arguments (a repeated one gives every value). */
function queryArgs(ctx: PluginContext): URLSearchParams {
  const uri = ctx.var('request_uri');
  const full = typeof uri === 'string' ? uri : ctx.request.uri;
  const q = full.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : full.slice(q + 1));
}

/** The named variables that have a value; a missing one is left out, as in APISIX. */
function pick(names: string[], valueOf: (name: string) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const v = valueOf(name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}
