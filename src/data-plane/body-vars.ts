// The request variables read from a buffered request body: `post_arg_<name>`,
// `post_arg.<path>` and the GraphQL ones (APISIX's ctx.lua). Parsed on first use and
// kept for the request; a body that does not parse gives nil, as APISIX logs and goes on.
import { createRequire } from 'node:module';
import type { DocumentNode, OperationDefinitionNode } from 'graphql/language/ast.js';

type GraphqlParse = typeof import('graphql/language/parser.js').parse;
let graphqlParse: GraphqlParse | undefined;

// graphql's parser alone (not its index, which loads the validation and execution library
// too), loaded the first time a request asks for a GraphQL variable: a worker whose
// routes never do pays nothing at start.
function parseGraphql(query: string): DocumentNode {
  graphqlParse ??= (createRequire(import.meta.url)('graphql/language/parser') as { parse: GraphqlParse }).parse;
  return graphqlParse(query, { noLocation: true });
}

/** APISIX's `graphql.max_size` default: a larger query is not parsed (nil). */
export const GRAPHQL_MAX_SIZE = 1048576;

export type BodyKind = 'form' | 'json' | 'graphql' | 'other';

export function bodyKind(contentType: string | undefined): BodyKind {
  if (contentType === undefined) return 'other';
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return 'form';
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  if (type === 'application/graphql') return 'graphql';
  return 'other';
}

/** The fields of a form or JSON body: the first value of each form field, or the JSON document. */
export type PostArgs = { kind: 'form'; fields: Map<string, string> } | { kind: 'json'; doc: unknown } | undefined;

export function parsePostArgs(body: Buffer, contentType: string | undefined): PostArgs {
  const kind = bodyKind(contentType);
  if (kind === 'form') {
    const fields = new Map<string, string>();
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) if (!fields.has(k)) fields.set(k, v);
    return { kind: 'form', fields };
  }
  if (kind === 'json') {
    try {
      return { kind: 'json', doc: JSON.parse(body.toString('utf8')) as unknown };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** `post_arg_<name>`: a top-level form field or JSON member. */
export function postArg(args: PostArgs, name: string): unknown {
  if (args === undefined) return undefined;
  if (args.kind === 'form') return args.fields.get(name);
  const doc = args.doc;
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return undefined;
  return Object.hasOwn(doc, name) ? (doc as Record<string, unknown>)[name] : undefined;
}

/** `post_arg.<a.b.0>`: a JSON value by dotted path (numbers index arrays); for a form, the field named by the whole path. */
export function postArgPath(args: PostArgs, path: string): unknown {
  if (args === undefined) return undefined;
  if (args.kind === 'form') return args.fields.get(path);
  let cur: unknown = args.doc;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(seg)) return undefined;
      cur = cur[Number(seg)];
    } else {
      if (!Object.hasOwn(cur, seg)) return undefined;
      cur = (cur as Record<string, unknown>)[seg];
    }
  }
  return cur;
}

export interface GraphqlFacts {
  /** `query`, `mutation` or `subscription`. */
  operation: string;
  /** The operation's name; undefined when anonymous. */
  name: string | undefined;
  /** Names of the fields (and fragment spreads) selected at the top of the operation. */
  rootFields: string[];
}

/**
 * The GraphQL query of a request, where APISIX looks for it: the `query` argument of a
 * GET, the body of a POST (`application/graphql`) or its JSON `query` member.
 */
export function graphqlQuery(method: string, queryArg: string | undefined, body: Buffer | undefined,
  contentType: string | undefined): string | undefined {
  if (method === 'GET') return queryArg;
  if (method !== 'POST' || body === undefined) return undefined;
  const kind = bodyKind(contentType);
  if (kind === 'graphql') return body.toString('utf8');
  if (kind !== 'json') return undefined;
  try {
    const doc = JSON.parse(body.toString('utf8')) as unknown;
    const q = doc !== null && typeof doc === 'object' ? (doc as { query?: unknown }).query : undefined;
    return typeof q === 'string' ? q : undefined;
  } catch {
    return undefined;
  }
}

/** The first operation of a query; undefined when it does not parse or is too large. */
export function parseGraphqlFacts(query: string | undefined): GraphqlFacts | undefined {
  if (query === undefined || query.length > GRAPHQL_MAX_SIZE) return undefined;
  let doc: DocumentNode;
  try {
    doc = parseGraphql(query);
  } catch {
    return undefined;
  }
  const op = doc.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
  if (op === undefined) return undefined;
  const rootFields: string[] = [];
  for (const sel of op.selectionSet.selections) {
    if (sel.kind === 'Field' || sel.kind === 'FragmentSpread') rootFields.push(sel.name.value);
  }
  return { operation: op.operation, name: op.name?.value, rootFields };
}
