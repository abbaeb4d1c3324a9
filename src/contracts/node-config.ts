/** `conf/config.yaml`, after validation and defaults. Relative paths are already resolved against the file's folder. */
export interface ListenConfig {
  host: string;
  port: number;
  tls?: boolean;
  /** Data-plane listeners: every connection starts with a PROXY protocol header (v1 or v2). */
  proxy_protocol?: boolean;
}

export interface NodeConfig {
  /** Absolute path of the config file this came from (for reload and relative paths). */
  file: string;
  node: {
    listen: ListenConfig[];
    /** Number of worker processes; `auto` resolves to the number of cores. */
    workers: number;
    /** Seconds in-flight requests get to finish on graceful shutdown. */
    drain_timeout: number;
    /** Seconds one asynchronous plugin call (a handler's promise) may take before its request fails. */
    plugin_timeout: number;
    /**
     * Largest body held in memory for one request (bytes): a request body a plugin reads
     * (413 past it; bodies no plugin asks for stream) and a response body a plugin buffers,
     * raw or decoded (502 past it).
     */
    max_buffered_body_size: number;
    client: {
      /** Largest request header block in bytes (431 beyond). */
      max_header_size: number;
      /** Largest request body in bytes (413 beyond); 0 = unlimited. */
      max_body_size: number;
      /** Seconds a client has to send its whole header block. */
      header_timeout: number;
      /** Seconds an idle keep-alive connection is kept. */
      keepalive_timeout: number;
      /** Seconds a client has to send the whole request (0 = off). */
      request_timeout: number;
    };
    tls: {
      /** Default protocols when an ssl object does not set `ssl_protocols`. */
      protocols: ('TLSv1.2' | 'TLSv1.3' | 'TLSv1.1')[];
      ciphers?: string;
      /** Id of the ssl object used when the client sends no SNI or an unknown one; absent = handshake fails. */
      default_ssl_id?: string;
      /** Seconds a client has to complete the TLS handshake; the connection is closed after. */
      handshake_timeout: number;
    };
    /** HTTP/2 downstream (h2 by ALPN, h2c by prior knowledge); `enabled: false` = HTTP/1.1 only. Sizes in bytes, memory in MiB, the window in seconds. */
    http2: {
      enabled: boolean;
      max_concurrent_streams: number;
      max_header_list_size: number;
      initial_window_size: number;
      max_frame_size: number;
      max_session_memory: number;
      /** Streams the client may reset (RST_STREAM before the answer finished) per `abuse_window`: CVE-2023-44487. */
      max_client_resets: number;
      /** PING and SETTINGS frames a client may send per `abuse_window`. */
      max_control_frames: number;
      abuse_window: number;
    };
    /** `$secret://` values: seconds a fetched value is used (`ttl`) and a failed lookup waits before it is retried (`retry`). */
    secrets: { ttl: number; retry: number };
  };
  admin: {
    listen: ListenConfig;
    keys: { name: string; key: string; role: 'admin' | 'viewer' }[];
    allow: string[];
  };
  /** The status listener (`/status`, `/status/ready`); absent = off. */
  status?: { listen: ListenConfig };
  store: {
    type: 'sqlite' | 'standalone' | 'etcd';
    /** `seed`: a standalone file imported once, when the database is new (revision 0). */
    sqlite: { path: string; seed?: string };
    standalone: { file: string };
    /**
     * Cluster mode. `timeout` (seconds) bounds every etcd request; `user`/`password` are
     * etcd RBAC credentials; `tls` files are absolute paths once loaded (verify defaults to true).
     */
    etcd: {
      endpoints: string[];
      prefix: string;
      user?: string;
      password?: string;
      tls?: { ca?: string; cert?: string; key?: string; verify: boolean };
      timeout: number;
    };
  };
  /**
   * The Prometheus export: `GET /apisix/prometheus/metrics` (APISIX's path; `/metrics` too),
   * served by the primary with every worker's metrics merged. `enabled: false` = no listener.
   */
  prometheus: {
    enabled: boolean;
    export: { listen: ListenConfig };
    /**
     * The per-plugin cost histogram times the handlers of one request in this many (1 =
     * every request); each timed call counts for this many, so rates and sums stay totals.
     */
    plugin_cost_sample: number;
  };
  /**
   * APISIX's `apisix.router.http`: radixtree_host_uri (host, then uri), radixtree_uri (uri,
   * hosts a condition after it), radixtree_uri_with_parameter (as radixtree_uri, with `/:name`
   * path parameters; in the other two `:name` is literal).
   */
  router: { http: 'radixtree_host_uri' | 'radixtree_uri' | 'radixtree_uri_with_parameter' };
  /**
   * APISIX's `apisix.tracing`: every request with plugins records when each plugin handler
   * ran, and the tracing plugins add a span per phase and per plugin to the traces they
   * sample. Off by default (it times every handler call of every request).
   */
  tracing?: boolean;
  /**
   * The isolate serverless functions run in, one per worker: its V8 heap limit, and the
   * deadline of one call into it (a function's promise included).
   */
  serverless: { memory_limit_mb: number; timeout_ms: number };
  /**
   * proxy-wasm plugins: the deadline of one guest call, the linear memory of one VM, and
   * wasm plugins declared here as APISIX's `wasm.plugins` do (a .wasm file each; the
   * marketplace's live in the store).
   */
  wasm: {
    call_timeout_ms: number;
    memory_limit_mb: number;
    plugins: {
      name: string; file: string; priority: number; stage: string; root_id?: string;
      fail_strategy: 'FAIL_CLOSE' | 'FAIL_OPEN'; http_request_phase: 'rewrite' | 'access';
    }[];
  };
  /**
   * APISIX's `apisix.proxy_cache`: the zones proxy-cache stores in (sizes in bytes, paths
   * absolute) and the disk strategy's freshness when the upstream gives none (seconds).
   */
  proxy_cache: ProxyCacheConfig;
  /** TCP/UDP listeners of stream routes (APISIX's `apisix.stream_proxy`); absent = no stream proxy. */
  stream_proxy?: StreamProxyConfig;
  /** APISIX's `discovery:`: one key per registry this node watches (docs/discovery.md); `{}` = none. */
  discovery: DiscoveryConfig;
  /** Folder for generated data (sqlite db, admin key). */
  data_dir: string;
  /** Folder file-logger writes under (absolute; default `<data_dir>/logs`); a `path` resolving outside is refused. */
  log_dir: string;
  /** Plugin whitelist; undefined = every installed plugin (built-ins and those in plugin_dirs). */
  plugins?: string[];
  /** Folders of custom JavaScript plugins (one default-exported plugin per `.js`/`.mjs`/`.cjs` file), same contract as built-ins. */
  plugin_dirs?: string[];
  /** Built-in plugin names a module in `plugin_dirs` may replace; any other name clash refuses to load. */
  plugin_overrides: string[];
  log: {
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
    /** `auto`: `pretty` when stdout is a terminal, else `json` (one JSON object a line). */
    format: 'auto' | 'json' | 'pretty';
  };
  /** Example-only helpers, for trying the gateway; absent in production configs. */
  examples: {
    /** An HTTP server answering every request with what it received, as JSON (the upstream of conf/gatehouse.yaml). */
    echo_upstream?: { listen: ListenConfig };
  };
}

/** One proxy-cache zone: a zone with `disk_path` is a disk zone, one without a memory zone. */
export interface CacheZoneConfig {
  name: string;
  /** Bytes: a memory zone's entries, a disk zone's index. */
  memory_size: number;
  /** Bytes of files a disk zone keeps (LRU eviction beyond). */
  disk_size?: number;
  disk_path?: string;
  /** nginx `levels`, e.g. `1:2`. */
  cache_levels: string;
}

export interface ProxyCacheConfig {
  cache_ttl: number;
  zones: CacheZoneConfig[];
}

/** A stream listener: `tls` (TCP only) terminates TLS with the ssl objects picked by SNI. */
export interface StreamListenConfig { host: string; port: number; tls: boolean }

export interface StreamProxyConfig {
  tcp: StreamListenConfig[];
  udp: StreamListenConfig[];
  /** Seconds a TCP connection may carry no byte either way before it is closed. */
  idle_timeout: number;
  /** Seconds a UDP session may see no datagram either way before it is forgotten. */
  udp_idle_timeout: number;
  /** UDP sessions one listener keeps at once; datagrams of new clients beyond it are dropped. */
  udp_max_sessions: number;
}

/** The registries of config.yaml's `discovery:` section; a key present enables that registry. */
export interface DiscoveryConfig {
  dns?: DnsDiscoveryConfig;
  consul?: ConsulDiscoveryConfig;
  nacos?: NacosDiscoveryConfig;
  /** One cluster (config.yaml's single object: no `id`), or several, each with its `id`. */
  kubernetes?: KubernetesDiscoveryConfig[];
  eureka?: EurekaDiscoveryConfig;
}

export type DnsRecordType = 'SRV' | 'A' | 'AAAA' | 'CNAME';

/** Exactly one of `servers` (`ip`, `ip:port`, `[v6]:port`) and `resolv_conf` (absolute path once loaded). */
export interface DnsDiscoveryConfig {
  servers?: string[];
  resolv_conf?: string;
  /** Record types tried in turn; `last` = the type that answered last time for that name. */
  order: (DnsRecordType | 'last')[];
}

/** APISIX's consul discovery; times in ms except `timeout.wait` and `fetch_interval` (seconds). */
export interface ConsulDiscoveryConfig {
  /** `http(s)://host:port` of Consul agents or servers; a service's nodes are the union of what each reports. */
  servers: string[];
  /** Sent as `X-Consul-Token`; '' = none. */
  token: string;
  fetch_interval: number;
  /** true: blocking queries (long polls, changes seen at once); false: a poll every `fetch_interval`. */
  keepalive: boolean;
  weight: number;
  timeout: { connect: number; read: number; wait: number };
  sort_type: 'origin' | 'host_sort' | 'port_sort' | 'combine_sort';
  /** Services never fetched (their upstreams get `default_service`, else no node). */
  skip_services?: string[];
  /** The node of a service that has no passing instance (or is skipped). */
  default_service?: { host: string; port: number; metadata?: Record<string, unknown> };
}

/** APISIX's nacos discovery (Nacos's v1 open API); times in ms except `fetch_interval` (seconds). */
export interface NacosDiscoveryConfig {
  /** `http(s)://[user:password@]host:port`: tried in turn from a random one; credentials mean a token login first. */
  host: string[];
  /** The API's path, `/nacos/v1/` by default. */
  prefix: string;
  fetch_interval: number;
  /** The weight of an instance that reports none. */
  weight: number;
  timeout: { connect: number; send: number; read: number };
  /** Both set: every instance list request is signed (`ak`, `data`, `signature`: HMAC-SHA1), as Nacos's ACM-style auth. */
  access_key: string;
  secret_key: string;
}

/** APISIX's kubernetes discovery, for one cluster; `${VAR}` in host, port, token and token_file already read from the environment. */
export interface KubernetesDiscoveryConfig {
  /** Multi-cluster form only: service names are then `id/namespace/name:port`. */
  id?: string;
  service: { schema: 'http' | 'https'; host: string; port: number; ssl_verify: boolean };
  /** A token, or a file read again at each connection (service account tokens rotate). */
  client: { token?: string; token_file?: string };
  namespace_selector?: { equal?: string; not_equal?: string; match?: string[]; not_match?: string[] };
  label_selector?: string;
  default_weight: number;
  /** Watch `discovery.k8s.io/v1` EndpointSlices instead of `v1` Endpoints. */
  watch_endpoint_slices: boolean;
}

/** APISIX's eureka discovery; times in ms except `fetch_interval` (seconds). */
export interface EurekaDiscoveryConfig {
  /** `http(s)://[user:password@]host:port`: tried in turn from a random one; credentials are sent as Basic auth. */
  host: string[];
  /** The path before `apps`, e.g. `/eureka/`. */
  prefix: string;
  fetch_interval: number;
  /** The weight of an instance whose metadata has none (default 100). */
  weight: number;
  timeout: { connect: number; send: number; read: number };
}
