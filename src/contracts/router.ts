/** Reads one request variable (lua-resty-expr / nginx names: `uri`, `arg_x`, `http_x`, `cookie_x`, …). */
export type VarLookup = (name: string) => unknown;

export interface RouteMatchInput {
  /** Upper-case method. */
  method: string;
  /** Lower-case host without port (from Host / :authority). */
  host: string;
  /** Path only, without the query string (the nginx `uri`). */
  path: string;
  remoteAddr: string;
  /** Lazily resolves variables for `vars` conditions; only called when a candidate has `vars`. */
  vars: VarLookup;
}

export interface RouteMatch<T> {
  route: T;
  /** Path parameters captured by `/:name` segments (`uri_param_<name>`). */
  params: Record<string, string> | undefined;
}

export interface Router<T> {
  readonly size: number;
  match(input: RouteMatchInput): RouteMatch<T> | undefined;
}
