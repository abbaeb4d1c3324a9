// The request-variable namespace that `vars` rules and `_meta.filter` may read,
// after APISIX's `ctx.var` (its own variables, then any nginx variable). Used to
// refuse a misspelt variable when the rule is stored instead of letting it read nil
// on every request.

const EXACT = new Set<string>([
  // request line and URI
  'uri', 'request_uri', 'real_request_uri', 'document_uri', 'request', 'request_method', 'method',
  'scheme', 'https', 'server_protocol', 'args', 'is_args', 'query_string', 'request_line',
  // addresses and connection
  'host', 'hostname', 'http_host', 'server_name', 'remote_addr', 'remote_port', 'remote_user',
  'binary_remote_addr', 'realip_remote_addr', 'realip_remote_port', 'server_addr', 'server_port',
  'proxy_protocol_addr', 'proxy_protocol_port', 'proxy_protocol_server_addr', 'proxy_protocol_server_port',
  'connection', 'connection_requests', 'connection_time', 'pid', 'msec', 'nginx_version',
  // request body and headers
  'content_type', 'content_length', 'request_length', 'request_body', 'request_body_file',
  'cookie', 'request_id', 'request_completion',
  // TLS
  'ssl_server_name', 'ssl_protocol', 'ssl_cipher', 'ssl_ciphers', 'ssl_session_id', 'ssl_session_reused',
  'ssl_client_verify', 'ssl_client_s_dn', 'ssl_client_i_dn', 'ssl_client_serial', 'ssl_client_fingerprint',
  'ssl_client_cert', 'ssl_client_raw_cert', 'ssl_client_escaped_cert', 'ssl_client_v_start',
  'ssl_client_v_end', 'ssl_client_v_remain', 'ssl_early_data', 'ssl_curves',
  // response and timing
  'status', 'bytes_sent', 'body_bytes_sent', 'request_time', 'time_iso8601', 'time_local',
  'sent_http_content_type', 'resp_body',
  // upstream
  'upstream_status', 'upstream_addr', 'upstream_response_time', 'upstream_connect_time',
  'upstream_header_time', 'upstream_response_length', 'upstream_bytes_sent', 'upstream_bytes_received',
  'upstream_cache_status', 'upstream_uri', 'upstream_host', 'upstream_scheme', 'upstream_mirror_host',
  'upstream_mirror_uri', 'upstream_upgrade', 'upstream_connection', 'upstream_cache_key',
  'upstream_cache_zone', 'upstream_cache_bypass', 'upstream_no_cache', 'upstream_hdr_expires',
  'upstream_hdr_cache_control', 'upstream_unresolved_host',
  'apisix_upstream_response_time', 'balancer_ip', 'balancer_port',
  // gateway context
  'route_id', 'route_name', 'service_id', 'service_name', 'consumer_name', 'consumer_group_id',
  'graphql_operation', 'graphql_name', 'graphql_root_fields',
  // registered by built-in plugins
  'proxy_rewrite_regex_uri_captures', 'rate_limiting_info', 'dubbo_service_name',
  'dubbo_service_version', 'dubbo_method',
  'llm_prompt_tokens', 'llm_completion_tokens', 'llm_model', 'request_llm_model', 'llm_time_to_first_token',
]);

// `post_arg.` reads a body field by dotted path / JSONPath; the rest name a header,
// query arg, cookie, form field, path parameter or response header.
const PREFIXES = [
  'arg_', 'http_', 'cookie_', 'post_arg_', 'post_arg.', 'uri_param_', 'sent_http_', 'upstream_http_',
  'upstream_cookie_', 'upstream_trailer_', 'sent_trailer_',
] as const;

const registered = new Set<string>();

/** True when `name` is a variable the gateway can resolve for a request. */
export function isKnownVariable(name: string): boolean {
  if (typeof name !== 'string' || name === '') return false;
  if (EXACT.has(name) || registered.has(name)) return true;
  for (const prefix of PREFIXES) {
    if (name.length > prefix.length && name.startsWith(prefix)) return true;
  }
  return false;
}

/** Lets a plugin announce a variable it provides (APISIX `core.ctx.register_var`). */
export function registerVariable(name: string): void {
  registered.add(name);
}

/** The prefixes of the variable families, for documentation and error hints. */
export const VARIABLE_PREFIXES: readonly string[] = PREFIXES;
