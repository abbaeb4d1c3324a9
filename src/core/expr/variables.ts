// The request-variable namespace (APISIX's `ctx.var`: its own variables, then nginx's),
// the one registry both sides use: the resolvers (data-plane/request-vars.ts for what a
// request carries, observability/request-facts.ts for what is known once it is proxied)
// resolve exactly these names, which a test and a check at module load hold them to, and
// the write-time checks (route `vars`, `_meta.filter`, `log_format`, templates) refuse
// anything else instead of letting a misspelt name read nil on every request.
//
// nginx variables a gateway on Node cannot give an honest value for are not here (so they
// are refused when written, not nil forever): nginx_version,
// request_body_file, ssl_client_* (no client certificates are asked for), ssl_ciphers,
// ssl_session_id, ssl_early_data, ssl_curves, upstream_connect_time, upstream_bytes_*,
// upstream_cache_* (but upstream_cache_status and upstream_cache_key, which proxy-cache sets), upstream_hdr_*, upstream_mirror_*, upstream_trailer_*, sent_trailer_*,
// and those of plugins that do not exist here (dubbo_*). The llm_* ones are ai-proxy's (registered there).

/** Known from the request itself: route `vars` can test them. */
export const REQUEST_VARIABLES: readonly string[] = [
  // request line and URI
  'uri', 'document_uri', 'request_uri', 'real_request_uri', 'request', 'request_line', 'request_method', 'method',
  'scheme', 'https', 'server_protocol', 'args', 'is_args', 'query_string',
  // addresses and connection
  'host', 'hostname', 'http_host', 'server_name', 'remote_addr', 'remote_port', 'remote_user', 'binary_remote_addr',
  'realip_remote_addr', 'realip_remote_port', 'server_addr', 'server_port', 'connection', 'connection_requests',
  'connection_time', 'pid',
  // a listener with proxy_protocol: the PROXY header's addresses (nil elsewhere)
  'proxy_protocol_addr', 'proxy_protocol_port', 'proxy_protocol_server_addr', 'proxy_protocol_server_port',
  // clock
  'msec', 'time_iso8601', 'time_local',
  // headers and body
  'content_type', 'content_length', 'cookie', 'request_id', 'request_body',
  'graphql_operation', 'graphql_name', 'graphql_root_fields',
  // TLS
  'ssl_server_name', 'ssl_protocol', 'ssl_cipher', 'ssl_session_reused', 'ssl_client_verify',
  // gateway context (set once the route, service and consumer are known)
  'route_id', 'route_name', 'service_id', 'service_name', 'consumer_name', 'consumer_group_id',
];

/** Known once the request has been proxied (or answered): the log phase, header_filter, body_filter. */
export const RESPONSE_VARIABLES: readonly string[] = [
  'status', 'bytes_sent', 'body_bytes_sent', 'request_time', 'request_length', 'request_completion',
  'upstream_addr', 'upstream_status', 'upstream_response_time', 'apisix_upstream_response_time',
  'upstream_header_time', 'upstream_response_length', 'upstream_uri', 'upstream_host', 'upstream_scheme',
  'balancer_ip', 'balancer_port', 'matched_uri', 'matched_host',
  // Gatehouse's own (APISIX has none): the plugin that answered the request itself, nil when none did
  'plugin_responded',
  // the gRPC status of a gRPC request (trailers, a trailers-only head, or the gateway's own answer)
  'grpc_status', 'grpc_message',
];

/** Set by built-in plugins while the request runs (APISIX registers them with `core.ctx.register_var`). */
export const PLUGIN_VARIABLES: readonly string[] = ['proxy_rewrite_regex_uri_captures'];

/**
 * Families: the name goes on after the prefix. `post_arg.` reads a body field by dotted
 * path; the rest name a query arg, header, cookie, form field, path parameter, response
 * header or upstream response header.
 */
export const REQUEST_VARIABLE_PREFIXES: readonly string[] = ['arg_', 'http_', 'cookie_', 'post_arg_', 'post_arg.', 'uri_param_'];
export const RESPONSE_VARIABLE_PREFIXES: readonly string[] = ['sent_http_', 'upstream_http_', 'upstream_cookie_'];

/**
 * Variables read from the request body (form fields, JSON fields, GraphQL in a POST, the
 * body itself): they have a value only when the lifecycle has read the body, so whoever
 * uses one (a route's `vars`, a filter, a log format) asks for the body to be buffered.
 */
export const BODY_VARIABLES: readonly string[] = ['request_body', 'graphql_operation', 'graphql_name', 'graphql_root_fields'];
export const BODY_VARIABLE_PREFIXES: readonly string[] = ['post_arg_', 'post_arg.'];

const EXACT = new Set<string>([...REQUEST_VARIABLES, ...RESPONSE_VARIABLES, ...PLUGIN_VARIABLES]);
const PREFIXES = [...REQUEST_VARIABLE_PREFIXES, ...RESPONSE_VARIABLE_PREFIXES];

const registered = new Set<string>();

function hasPrefix(name: string, prefixes: readonly string[]): boolean {
  for (const prefix of prefixes) {
    if (name.length > prefix.length && name.startsWith(prefix)) return true;
  }
  return false;
}

/** `post_arg.a.b`: dotted segments, each a non-empty run without JSONPath syntax. */
function isDottedPath(name: string): boolean {
  if (!name.startsWith('post_arg.')) return true;
  return name.slice(9).split('.').every((seg) => seg !== '' && !/[[\]*$@?()'"]/.test(seg));
}

/** True when `name` is a variable the gateway can resolve for a request. */
export function isKnownVariable(name: string): boolean {
  if (typeof name !== 'string' || name === '') return false;
  if (EXACT.has(name) || registered.has(name)) return true;
  return hasPrefix(name, PREFIXES) && isDottedPath(name);
}

/** True when `name` has its value only after the upstream answered (useless in a route's `vars`). */
export function isResponseVariable(name: string): boolean {
  return RESPONSE_VARIABLES.includes(name) || hasPrefix(name, RESPONSE_VARIABLE_PREFIXES);
}

/** True when `name` reads the request body (see BODY_VARIABLES). */
export function isBodyVariable(name: string): boolean {
  return BODY_VARIABLES.includes(name) || hasPrefix(name, BODY_VARIABLE_PREFIXES);
}

/**
 * The variables of a stream (TCP/UDP) session, what `StreamSession.var` resolves
 * (data-plane/stream/session.ts): nginx's stream module's names and APISIX's route_id.
 */
export const STREAM_VARIABLES: readonly string[] = [
  'remote_addr', 'remote_port', 'server_addr', 'server_port', 'ssl_server_name', 'protocol', 'route_id',
  'bytes_received', 'bytes_sent', 'upstream_addr', 'session_time', 'status',
];

/** True when `name` is a variable of a stream session. */
export function isStreamVariable(name: string): boolean {
  return STREAM_VARIABLES.includes(name);
}

/**
 * Throws `<field>: unknown variable '$<name>'` for the first name that is not a variable
 * (`known` decides: default, a request's). For plugin `prepare` (refused at write time)
 * and the config-store checks.
 */
export function checkVariables(names: Iterable<string>, field: string, known: (name: string) => boolean = isKnownVariable): void {
  for (const name of names) {
    if (!known(name)) throw new Error(`${field}: unknown variable '$${name}'`);
  }
}

/**
 * The check for a route's `vars`: known, and known when routes are matched (a response
 * variable would read nil there on every request).
 */
export function checkRouteVariable(name: string): true | string {
  if (!isKnownVariable(name)) return `unknown variable '${name}'`;
  if (isResponseVariable(name)) return `variable '${name}' has no value yet when routes are matched`;
  // as in APISIX, plugins run after the route is chosen: a route matching on what one
  // sets would read nil, unless its plugin can also resolve it then (registerMatchTimeVariable);
  // later plugins' `_meta.filter` can test it
  if (matchTimeOwners.has(name)) return true;
  if (PLUGIN_VARIABLES.includes(name) || registered.has(name)) {
    return `variable '${name}' is set by a plugin, after routes are matched (a plugin's _meta.filter can test it)`;
  }
  return true;
}

/** Lets a plugin announce a variable it provides (APISIX `core.ctx.register_var`). */
export function registerVariable(name: string): void {
  registered.add(name);
}

const matchTimeOwners = new Map<string, string>();

/**
 * A variable `plugin` sets that it can also resolve when routes are matched, from its
 * plugin_metadata (the plugin's `matchTimeVariables` hook): route `vars` may name it.
 */
export function registerMatchTimeVariable(name: string, plugin: string): void {
  registered.add(name);
  matchTimeOwners.set(name, plugin);
}

/** The plugin whose plugin_metadata resolves `name` when routes are matched, or undefined. */
export function matchTimeOwnerOf(name: string): string | undefined {
  return matchTimeOwners.get(name);
}

/** The prefixes of the variable families, for documentation and error hints. */
export const VARIABLE_PREFIXES: readonly string[] = PREFIXES;
