// The configuration objects users write, with APISIX's field names (Admin API v3,
// standalone file). These are *validated input*: the JSON schemas in
// src/config-store/schemas/ are the source of truth for what is accepted.
import type { CustomPlugin } from './custom-plugins.js';
import type { DiscoveryArgs } from './discovery.js';

export type ResourceKind =
  | 'routes'
  | 'services'
  | 'upstreams'
  | 'consumers'
  | 'credentials'
  | 'consumer_groups'
  | 'plugin_configs'
  | 'global_rules'
  | 'plugin_metadata'
  | 'ssls'
  /** Secret manager connections (`secrets/<manager>/<id>`), stored with the id `<manager>/<id>`. */
  | 'secrets'
  /** Wasm plugins of the marketplace (`custom_plugins/<id>`); their binaries live in the store's blobs. */
  | 'custom_plugins'
  /** L4 (TCP/UDP) routes served on the node config's `stream_proxy` listeners. */
  | 'stream_routes';

export const RESOURCE_KINDS: readonly ResourceKind[] = [
  'routes', 'services', 'upstreams', 'consumers', 'credentials', 'consumer_groups',
  'plugin_configs', 'global_rules', 'plugin_metadata', 'ssls', 'secrets', 'custom_plugins', 'stream_routes',
];

/** lua-resty-expr rule: `[var, op, value]`, `[var, '!', op, value]`, or `['AND'|'OR', ...rules]`. */
export type ExprRule = unknown[];

export type PluginsConf = Record<string, Record<string, unknown>>;

export interface Timeout { connect?: number; send?: number; read?: number } // seconds, as APISIX

export interface UpstreamNode { host: string; port: number; weight: number; priority?: number; metadata?: unknown }

export interface HealthCheckActive {
  type?: 'http' | 'https' | 'tcp';
  timeout?: number;                 // seconds
  /** Probes of this upstream running at once (per worker). */
  concurrency?: number;
  http_method?: string;
  http_path?: string;
  http_req_body?: string;
  host?: string;
  port?: number;
  https_verify_certificate?: boolean;
  req_headers?: string[];
  healthy?: { interval?: number; successes?: number; http_statuses?: number[] };
  unhealthy?: { interval?: number; http_failures?: number; tcp_failures?: number; timeouts?: number; http_statuses?: number[] };
}
export interface HealthCheckPassive {
  type?: 'http' | 'https' | 'tcp';
  healthy?: { successes?: number; http_statuses?: number[] };
  unhealthy?: { http_failures?: number; tcp_failures?: number; timeouts?: number; http_statuses?: number[] };
}

export interface Upstream {
  id?: string;
  name?: string;
  desc?: string;
  labels?: Record<string, string>;
  type?: 'roundrobin' | 'chash' | 'least_conn' | 'ewma';
  /** APISIX accepts a map `"host:port": weight` or an array; stores normalise to the array form. */
  nodes?: UpstreamNode[] | Record<string, number>;
  hash_on?: 'vars' | 'header' | 'cookie' | 'consumer' | 'vars_combinations';
  key?: string;
  scheme?: 'http' | 'https' | 'grpc' | 'grpcs' | 'http2';
  pass_host?: 'pass' | 'node' | 'rewrite';
  upstream_host?: string;
  retries?: number;
  retry_timeout?: number;           // seconds, 0 = no limit
  timeout?: Timeout;
  keepalive_pool?: { size?: number; idle_timeout?: number; requests?: number };
  checks?: { active?: HealthCheckActive; passive?: HealthCheckPassive };
  /** `client_cert_id` names an ssl object of type `client` (the alternative to an inline pair). */
  tls?: { client_cert?: string; client_key?: string; client_cert_id?: string | number; verify?: boolean };
  /** Service discovery (instead of `nodes`): the service a registry of `discovery_type` names. */
  service_name?: string;
  discovery_type?: string;
  discovery_args?: DiscoveryArgs;
  create_time?: number;
  update_time?: number;
}

export interface Route {
  id?: string;
  name?: string;
  desc?: string;
  labels?: Record<string, string>;
  uri?: string;
  uris?: string[];
  host?: string;
  hosts?: string[];
  remote_addr?: string;
  remote_addrs?: string[];
  methods?: string[];
  vars?: ExprRule;
  priority?: number;
  status?: 0 | 1;
  plugins?: PluginsConf;
  plugin_config_id?: string;
  service_id?: string;
  upstream_id?: string;
  upstream?: Upstream;
  timeout?: Timeout;
  enable_websocket?: boolean;
  create_time?: number;
  update_time?: number;
}

export interface Service {
  id?: string;
  name?: string;
  desc?: string;
  labels?: Record<string, string>;
  hosts?: string[];
  plugins?: PluginsConf;
  upstream_id?: string;
  upstream?: Upstream;
  enable_websocket?: boolean;
  create_time?: number;
  update_time?: number;
}

export interface Consumer {
  username: string;
  desc?: string;
  labels?: Record<string, string>;
  group_id?: string;
  plugins?: PluginsConf;
  create_time?: number;
  update_time?: number;
}

export interface Credential { id?: string; name?: string; desc?: string; labels?: Record<string, string>; plugins: PluginsConf }
export interface ConsumerGroup { id?: string; name?: string; desc?: string; labels?: Record<string, string>; plugins: PluginsConf }
export interface PluginConfig { id?: string; name?: string; desc?: string; labels?: Record<string, string>; plugins: PluginsConf }
export interface GlobalRule { id?: string; plugins: PluginsConf }
export interface PluginMetadata { id: string; [field: string]: unknown }

export interface Ssl {
  id?: string;
  type?: 'server' | 'client';
  /** Server names this certificate answers for: exact or leading `*.` wildcard. */
  snis?: string[];
  sni?: string;
  cert: string;
  key: string;
  /** Extra certificate/key pairs for the same names (e.g. RSA + ECDSA). */
  certs?: string[];
  keys?: string[];
  ssl_protocols?: ('TLSv1.1' | 'TLSv1.2' | 'TLSv1.3')[];
  /** Client certificate verification (mTLS) for connections to these names. */
  client?: { ca: string; depth?: number; skip_mtls_uri_regex?: string[] };
  status?: 0 | 1;
  labels?: Record<string, string>;
}

export interface ResourceTypes {
  routes: Route;
  services: Service;
  upstreams: Upstream;
  consumers: Consumer;
  credentials: Credential;
  consumer_groups: ConsumerGroup;
  plugin_configs: PluginConfig;
  global_rules: GlobalRule;
  plugin_metadata: PluginMetadata;
  ssls: Ssl;
  secrets: VaultSecret;
  custom_plugins: CustomPlugin;
  stream_routes: StreamRoute;
}

/**
 * APISIX's stream route (`schema_def.lua` stream_route): a TCP or UDP session on a
 * `stream_proxy` listener matched by the client address, the listener's address and port,
 * and on TLS listeners the SNI; then proxied to an upstream. Absent conditions match anything.
 */
export interface StreamRoute {
  id?: string;
  name?: string;
  desc?: string;
  labels?: Record<string, string>;
  remote_addr?: string;
  server_addr?: string;
  server_port?: number;
  sni?: string;
  upstream?: Upstream;
  upstream_id?: string;
  service_id?: string;
  /** Stream plugins only (those with a `stream` phase: ip-restriction, limit-conn, prometheus, syslog). */
  plugins?: PluginsConf;
  create_time?: number;
  update_time?: number;
}

/** `secrets/vault/<id>`: a HashiCorp Vault KV engine that `$secret://vault/<id>/<path>/<key>` reads. */
export interface VaultSecret {
  id?: string;
  uri: string;
  prefix: string;
  /** Sent as X-Vault-Token; may be `$env://NAME`. Never returned by the Admin API. */
  token: string;
  namespace?: string;
}
