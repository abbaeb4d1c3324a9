// The URI side of route matching for one host group: exact paths in a Map, path
// parameter routes and prefix routes in two character radix trees. Matching walks at
// most the request path (and, for parameters, the branches it can take), so it does
// not grow with the number of routes.
import type { RouteMatch, RouteMatchInput } from '../../contracts/router.js';
import type { CompiledExpr } from '../../core/expr/expr.js';

export const TokenKind = { Static: 0, Param: 1, CatchAll: 2 } as const;

export type Token =
  | { readonly kind: typeof TokenKind.Static; readonly text: string }
  | { readonly kind: typeof TokenKind.Param; readonly name: string }
  | { readonly kind: typeof TokenKind.CatchAll; readonly name: string };

export type ParsedUri =
  | { readonly kind: 'exact'; readonly path: string }
  | { readonly kind: 'prefix'; readonly prefix: string }
  | { readonly kind: 'param'; readonly tokens: readonly Token[] };

/** One (route, uri) pair with its conditions; shared by every host group it is in. */
export interface Candidate<T> {
  readonly route: T;
  readonly id: string;
  readonly uri: ParsedUri;
  /** Position in the global order (priority desc, longer uri, insertion); lower wins. */
  rank: number;
  readonly priority: number;
  readonly seq: number;
  readonly uriLength: number;
  /** The route's hosts as a condition (uri-only routers); undefined when the host index placed it, or it has none. */
  readonly host: ((input: RouteMatchInput) => boolean) | undefined;
  readonly methods: readonly string[] | undefined;
  readonly remoteAddr: ((ip: string) => boolean) | undefined;
  readonly vars: CompiledExpr | undefined;
  /** Returned as is for routes without parameters, so such a match allocates nothing. */
  readonly staticMatch: RouteMatch<T>;
}

const SLASH = 47;

/**
 * Classifies a route uri. With `withParams`, `:name` segments and a final `*name` make a
 * parameter route; otherwise a trailing `*` makes a prefix route; anything else is exact.
 * Without `withParams` (lua-resty-radixtree's `no_param_match`, which APISIX's
 * radixtree_host_uri and radixtree_uri routers use) `:name` and `*name` are literal text.
 */
export function parseUri(uri: string, withParams = true): ParsedUri {
  if (!withParams) return uri.endsWith('*') ? { kind: 'prefix', prefix: uri.slice(0, -1) } : { kind: 'exact', path: uri };
  const segments = uri.split('/');
  const last = segments.length - 1;
  let hasParam = false;
  for (let k = 0; k <= last; k++) {
    const seg = segments[k]!;
    if (seg.length > 1 && (seg[0] === ':' || (k === last && seg[0] === '*'))) {
      hasParam = true;
      break;
    }
  }
  if (!hasParam) {
    return uri.endsWith('*') ? { kind: 'prefix', prefix: uri.slice(0, -1) } : { kind: 'exact', path: uri };
  }
  const tokens: Token[] = [];
  let text = '';
  for (let k = 0; k <= last; k++) {
    const seg = segments[k]!;
    if (k > 0) text += '/';
    const isParam = seg.length > 1 && seg[0] === ':';
    const isCatchAll = k === last && seg[0] === '*';
    if (!isParam && !isCatchAll) {
      text += seg;
      continue;
    }
    if (text !== '') tokens.push({ kind: TokenKind.Static, text });
    text = '';
    tokens.push(isParam ? { kind: TokenKind.Param, name: seg.slice(1) } : { kind: TokenKind.CatchAll, name: seg.slice(1) });
  }
  if (text !== '') tokens.push({ kind: TokenKind.Static, text });
  return { kind: 'param', tokens };
}

/** Builds `params` for the winning parameter route (the match is unique by construction). */
export function extractParams(tokens: readonly Token[], path: string): Record<string, string> {
  const params: Record<string, string> = {};
  let i = 0;
  for (const token of tokens) {
    if (token.kind === TokenKind.Static) {
      i += token.text.length;
    } else if (token.kind === TokenKind.Param) {
      let j = path.indexOf('/', i);
      if (j < 0) j = path.length;
      params[token.name] = path.slice(i, j);
      i = j;
    } else {
      if (token.name !== '') params[token.name] = path.slice(i);
      i = path.length;
    }
  }
  return params;
}

class RadixNode<T> {
  label: string;
  /** Children by the first char of their label. */
  edges: Map<number, RadixNode<T>> | undefined;
  /** Child entered by a `:name` segment (one or more non-`/` chars). */
  param: RadixNode<T> | undefined;
  catchAll: Candidate<T>[] | undefined;
  /** Prefix tree: routes whose prefix ends here. Param tree: routes whose pattern ends here. */
  cands: Candidate<T>[] | undefined;
  /** Lowest rank anywhere below, so a walk can skip subtrees that cannot win. */
  minRank = Infinity;

  constructor(label: string) {
    this.label = label;
  }
}

function insertStatic<T>(root: RadixNode<T>, s: string): RadixNode<T> {
  let node = root;
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    const edges = (node.edges ??= new Map());
    let child = edges.get(c);
    if (child === undefined) {
      child = new RadixNode<T>(s.slice(i));
      edges.set(c, child);
      return child;
    }
    const label = child.label;
    let k = 1;
    while (k < label.length && i + k < s.length && label.charCodeAt(k) === s.charCodeAt(i + k)) k++;
    if (k < label.length) {
      const mid = new RadixNode<T>(label.slice(0, k));
      child.label = label.slice(k);
      mid.edges = new Map([[child.label.charCodeAt(0), child]]);
      edges.set(c, mid);
      child = mid;
    }
    i += k;
    node = child;
  }
  return node;
}

function computeMinRank<T>(node: RadixNode<T>): number {
  let min = Infinity;
  if (node.cands !== undefined) min = node.cands[0]!.rank;
  if (node.catchAll !== undefined) min = Math.min(min, node.catchAll[0]!.rank);
  if (node.param !== undefined) min = Math.min(min, computeMinRank(node.param));
  if (node.edges !== undefined) for (const child of node.edges.values()) min = Math.min(min, computeMinRank(child));
  node.minRank = min;
  return min;
}

function passes<T>(c: Candidate<T>, input: RouteMatchInput): boolean {
  if (c.host !== undefined && !c.host(input)) return false;
  if (c.methods !== undefined && !c.methods.includes(input.method)) return false;
  if (c.remoteAddr !== undefined && !c.remoteAddr(input.remoteAddr)) return false;
  if (c.vars !== undefined && !c.vars(input.vars)) return false;
  return true;
}

/** First candidate (lists are in rank order) that passes, if it ranks before `bound`. */
function firstPassing<T>(list: Candidate<T>[], input: RouteMatchInput, bound: number): Candidate<T> | undefined {
  for (let k = 0; k < list.length; k++) {
    const c = list[k]!;
    if (c.rank >= bound) return undefined;
    if (passes(c, input)) return c;
  }
  return undefined;
}

// Several parameter patterns can match one path (`/u/:id/x`, `/u/:id/*rest`); the
// winner is the passing one that ranks first overall, as if they were one list
// sorted by priority. `bound` prunes whatever cannot beat the best found so far.
function matchParam<T>(
  node: RadixNode<T>, path: string, i: number, input: RouteMatchInput, bound: number,
): Candidate<T> | undefined {
  if (node.minRank >= bound) return undefined;
  let best: Candidate<T> | undefined;
  const len = path.length;
  if (i === len && node.cands !== undefined) {
    best = firstPassing(node.cands, input, bound);
    if (best !== undefined) bound = best.rank;
  }
  if (i < len && node.edges !== undefined) {
    const child = node.edges.get(path.charCodeAt(i));
    if (child !== undefined && path.startsWith(child.label, i)) {
      const found = matchParam(child, path, i + child.label.length, input, bound);
      if (found !== undefined) {
        best = found;
        bound = found.rank;
      }
    }
  }
  if (node.param !== undefined && i < len && path.charCodeAt(i) !== SLASH) {
    let j = path.indexOf('/', i);
    if (j < 0) j = len;
    const found = matchParam(node.param, path, j, input, bound);
    if (found !== undefined) {
      best = found;
      bound = found.rank;
    }
  }
  if (node.catchAll !== undefined) {
    const found = firstPassing(node.catchAll, input, bound);
    if (found !== undefined) best = found;
  }
  return best;
}

// Deeper nodes are longer prefixes, so trying children before the node itself gives
// longest-prefix-first without collecting the matches anywhere.
function matchPrefix<T>(node: RadixNode<T>, path: string, i: number, input: RouteMatchInput): Candidate<T> | undefined {
  if (i < path.length && node.edges !== undefined) {
    const child = node.edges.get(path.charCodeAt(i));
    if (child !== undefined && path.startsWith(child.label, i)) {
      const found = matchPrefix(child, path, i + child.label.length, input);
      if (found !== undefined) return found;
    }
  }
  return node.cands === undefined ? undefined : firstPassing(node.cands, input, Infinity);
}

/** Exact paths first, then parameter routes, then prefixes from longest to shortest. */
export class UriIndex<T> {
  private readonly exact = new Map<string, Candidate<T>[]>();
  private paramRoot: RadixNode<T> | undefined;
  private prefixRoot: RadixNode<T> | undefined;

  /** Candidates must be added in rank order. */
  add(cand: Candidate<T>): void {
    const uri = cand.uri;
    if (uri.kind === 'exact') {
      const list = this.exact.get(uri.path);
      if (list === undefined) this.exact.set(uri.path, [cand]);
      else list.push(cand);
    } else if (uri.kind === 'prefix') {
      const node = insertStatic((this.prefixRoot ??= new RadixNode<T>('')), uri.prefix);
      (node.cands ??= []).push(cand);
    } else {
      let node = (this.paramRoot ??= new RadixNode<T>(''));
      for (const token of uri.tokens) {
        if (token.kind === TokenKind.Static) node = insertStatic(node, token.text);
        else if (token.kind === TokenKind.Param) node = (node.param ??= new RadixNode<T>(''));
        else {
          (node.catchAll ??= []).push(cand);
          return;
        }
      }
      (node.cands ??= []).push(cand);
    }
  }

  /** Call once after the last `add`. */
  seal(): void {
    if (this.paramRoot !== undefined) computeMinRank(this.paramRoot);
  }

  match(input: RouteMatchInput): Candidate<T> | undefined {
    const path = input.path;
    if (this.exact.size !== 0) {
      const list = this.exact.get(path);
      if (list !== undefined) {
        const found = firstPassing(list, input, Infinity);
        if (found !== undefined) return found;
      }
    }
    if (this.paramRoot !== undefined) {
      const found = matchParam(this.paramRoot, path, 0, input, Infinity);
      if (found !== undefined) return found;
    }
    return this.prefixRoot === undefined ? undefined : matchPrefix(this.prefixRoot, path, 0, input);
  }
}
