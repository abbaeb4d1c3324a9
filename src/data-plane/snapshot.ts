import type { Route, Service, Upstream, Ssl } from '../contracts/resources.js';
import type { ConfigView } from '../contracts/store.js';
import type { Router } from '../contracts/router.js';
import type { UpstreamChoice } from '../contracts/plugin.js';
import type { DiscoveredNodesView } from '../contracts/discovery.js';
import type { ErrorCode } from '../core/errors.js';
import { logger } from '../core/logger.js';
import { exprVariables, usesBodyVariable } from '../core/expr/index.js';
import { buildRouter, RouterBuildError, type RouterEntry, type RouterMode } from './router/router.js';
import { UpstreamRuntime, upstreamKey } from './upstream/upstream-runtime.js';
import { hashKeyResolver } from './upstream/hash-key.js';
import { poolSettingsOf, type PoolSettings } from './proxy/pools.js';
import { SniIndex } from './tls/sni-index.js';
import { buildStreamRouter, type StreamRouter } from './stream/stream-router.js';
import type { RequestVars } from './request-vars.js';
import { PluginSnapshot, type RoutePlugins } from '../plugin-runtime/plugin-snapshot.js';
import { PrepareCache } from '../plugin-runtime/chain.js';
import type { PluginRegistry } from '../plugin-runtime/registry.js';

export type { ConfigView };

/** A route with everything the hot path needs resolved at build time. */
export interface CompiledRoute {
  readonly id: string;
  readonly name: string | undefined;
  readonly conf: Route;
  readonly service: (Service & { id: string }) | undefined;
  /**
   * Undefined with `upstreamError` set when the route cannot be proxied: its plugin
   * config (503), service (404) or upstream (502) is missing.
   */
  readonly upstream: UpstreamRuntime | undefined;
  readonly upstreamError: ErrorCode | undefined;
  /** The answer's text when it is not the catalogue's (`discovery <type> is uninitialized`). */
  readonly upstreamErrorMessage?: string;
  readonly pool: PoolSettings | undefined;
  /** The upstream is reached over HTTP/2 (scheme grpc, grpcs or http2): one test on the hot path instead of three. */
  readonly h2Upstream: boolean;
  readonly passHost: 'pass' | 'node' | 'rewrite';
  readonly upstreamHost: string | undefined;
  readonly websocket: boolean;
  readonly connectTimeoutMs: number;
  readonly sendTimeoutMs: number;
  readonly readTimeoutMs: number;
  /** The merged plugin chain (route + plugin config + service); undefined when there is none. */
  readonly plugins: RoutePlugins | undefined;
  /** chash: resolves the hash key for a request; undefined for other balancers. */
  readonly hashKey: ((vars: RequestVars) => string | undefined) | undefined;
}

export interface DataPlaneSnapshot {
  readonly revision: number;
  readonly router: Router<CompiledRoute>;
  readonly tls: SniIndex;
  readonly plugins: PluginSnapshot;
  /** True when any global rule has plugins: every request, matched or not, goes through them. */
  readonly hasGlobalPlugins: boolean;
  /**
   * True when some route's `vars` read the request body (`post_arg_*`, `request_body`,
   * `graphql_*`): matching then needs the body, so a request that has one is read
   * (bounded, as for plugins) before it is matched. False: bodies stream, unread.
   */
  readonly matchReadsBody: boolean;
  /** `route` proxying to a plugin's choice of upstream instead of its own (built once per snapshot, route and choice). */
  readonly withUpstream: (route: CompiledRoute, choice: UpstreamChoice) => CompiledRoute;
  /** The stream routes (TCP/UDP), sharing upstream runtimes (balancers, health) with the HTTP routes. */
  readonly stream: StreamRouter;
}

type UpstreamTarget = Pick<CompiledRoute, 'upstream' | 'upstreamError' | 'upstreamErrorMessage' | 'pool' | 'h2Upstream' | 'passHost' | 'upstreamHost'
  | 'connectTimeoutMs' | 'sendTimeoutMs' | 'readTimeoutMs' | 'hashKey'>;

export interface BuildOptions {
  defaultTlsProtocols: string[];
  /** node config `router.http`; default radixtree_host_uri. */
  routerMode?: RouterMode;
  tlsCiphers?: string;
  defaultSslId?: string;
  /** The node sets service discovery found (the primary's, copied to this worker); absent = no registry enabled. */
  discovery?: DiscoveredNodesView;
}

/**
 * A compiled route with the store objects it was compiled from (compared by identity)
 * and its router entry (undefined when the route is not served).
 */
interface CachedRoute {
  route: Route;
  service: unknown;
  upstream: unknown;
  pluginConfig: unknown;
  svcUpstream: unknown;
  pluginEnv: string;
  compiled: CompiledRoute;
  upstreamKey: string | undefined;
  entry: RouterEntry<CompiledRoute> | undefined;
}

/**
 * Builds immutable data-plane snapshots. Upstream runtimes (balancer + health state)
 * are reused across builds while their config is unchanged, so a route edit does not
 * reset health checks or least_conn counters.
 */
export class SnapshotBuilder {
  private runtimes = new Map<string, UpstreamRuntime>();
  private readonly log = logger().child({ module: 'snapshot' });
  private readonly prepareCache = new PrepareCache();
  /** Routes (with the type) already logged as naming a discovery type this node does not enable. */
  private readonly disabledDiscoveryReported = new Set<string>();

  /** upstreamKey per upstream object: the key is a canonical JSON string, too costly to recompute for 10,000 routes. */
  private readonly upstreamKeys = new WeakMap<object, string>();
  /**
   * Compiled routes of the previous build. A route is reused when its own object and
   * every object it depends on are the same (store objects keep their identity until
   * they change) and nothing plugins prepare from (registry, metadata, consumers) changed.
   */
  private routeCache = new Map<string, CachedRoute>();

  constructor(private readonly opts: BuildOptions, private registry: PluginRegistry) {}

  /** After a plugin reload: the next build uses the new plugin code. */
  setRegistry(registry: PluginRegistry): void {
    this.registry = registry;
  }

  private newRuntime(conf: Upstream, name: string): UpstreamRuntime {
    return new UpstreamRuntime(conf, { name, ...(this.opts.discovery !== undefined ? { discovery: this.opts.discovery } : {}) });
  }

  private keyOf(conf: Upstream): string {
    let key = this.upstreamKeys.get(conf);
    if (key === undefined) {
      key = upstreamKey(conf);
      this.upstreamKeys.set(conf, key);
    }
    return key;
  }

  /** What a route's plugin chain is prepared from besides the route's own objects. */
  private pluginEnvSignature(view: ConfigView): string {
    let sig = `g${this.registry.generation}.${this.registry.revision}|s${view.secretGeneration ?? 0}`;
    for (const kind of ['plugin_metadata', 'consumers', 'credentials', 'consumer_groups'] as const) {
      for (const o of view.list(kind)) sig += `|${kind}:${o.id}:${o.modifiedIndex}`;
    }
    // Client certificates upstreams name by `tls.client_cert_id` are compiled into their routes' pool settings.
    for (const o of view.list('ssls')) if ((o.value as { type?: unknown }).type === 'client') sig += `|ssl:${o.id}:${o.modifiedIndex}`;
    return sig;
  }

  build(view: ConfigView): DataPlaneSnapshot {
    const plugins = new PluginSnapshot(view, this.registry, this.prepareCache);
    const nextRuntimes = new Map<string, UpstreamRuntime>();
    const runtimeFor = (conf: Upstream, name: string): UpstreamRuntime => {
      const key = this.keyOf(conf);
      let rt = nextRuntimes.get(key) ?? this.runtimes.get(key);
      if (rt === undefined) rt = this.newRuntime(conf, name);
      nextRuntimes.set(key, rt);
      return rt;
    };

    const pluginEnv = this.pluginEnvSignature(view);
    const nextCache: typeof this.routeCache = new Map();
    const entries: RouterEntry<CompiledRoute>[] = [];
    let matchReadsBody = false;
    for (const obj of view.list('routes')) {
      const route = obj.value as Route;
      if (route.status === 0) continue;
      const service = route.service_id !== undefined ? view.get('services', String(route.service_id))?.value : undefined;
      const upstream = route.upstream_id !== undefined ? view.get('upstreams', String(route.upstream_id))?.value : undefined;
      const pluginConfig = route.plugin_config_id !== undefined ? view.get('plugin_configs', String(route.plugin_config_id))?.value : undefined;
      const svcUpstreamId = (service as Service | undefined)?.upstream_id;
      const svcUpstream = svcUpstreamId !== undefined ? view.get('upstreams', String(svcUpstreamId))?.value : undefined;
      const hit = this.routeCache.get(obj.id);
      if (hit !== undefined && hit.pluginEnv === pluginEnv && hit.route === route && hit.service === service
        && hit.upstream === upstream && hit.pluginConfig === pluginConfig && hit.svcUpstream === svcUpstream ) {
        // Unchanged: the compiled route and its router entry are reused as they are.
        const compiled = hit.compiled;
        if (compiled.upstream !== undefined && hit.upstreamKey !== undefined) nextRuntimes.set(hit.upstreamKey, compiled.upstream);
        nextCache.set(obj.id, hit);
        if (hit.entry !== undefined) entries.push(hit.entry);
        continue;
      }
      const compiled = this.compileRoute(obj.id, route, view, runtimeFor, plugins);
      const upConf = compiled.upstream?.conf;
      const cached: CachedRoute = {
        route, service, upstream, pluginConfig, svcUpstream, pluginEnv, compiled,
        upstreamKey: upConf !== undefined ? this.keyOf(upConf) : undefined, entry: undefined,
      };
      nextCache.set(obj.id, cached);
      if (compiled.plugins !== undefined && compiled.plugins.problems.length > 0) {
        // Serving it without a plugin it asks for (an auth plugin, say) would be worse than not serving it.
        this.log.error({ route_id: obj.id, problems: compiled.plugins.problems }, 'route not served: its plugins cannot run');
        continue;
      }
      const hosts = route.hosts ?? (route.host !== undefined ? [route.host] : compiled.service?.hosts);
      cached.entry = {
        id: obj.id,
        route: compiled,
        uris: route.uris ?? (route.uri !== undefined ? [route.uri] : []),
        hosts: hosts?.map((h) => h.toLowerCase()),
        methods: route.methods,
        remoteAddrs: route.remote_addrs ?? (route.remote_addr !== undefined ? [route.remote_addr] : undefined),
        vars: route.vars,
        priority: route.priority ?? 0,
        memo: {},
      };
      if (route.vars !== undefined && !matchReadsBody) matchReadsBody = readsBody(route.vars);
      entries.push(cached.entry);
    }

    let router: Router<CompiledRoute>;
    for (;;) {
      try {
        router = buildRouter(entries, { mode: this.opts.routerMode });
        break;
      } catch (err) {
        // Validation should have caught it; never let one bad route take the others down.
        if (!(err instanceof RouterBuildError)) throw err;
        this.log.error({ route_id: err.routeId, err: err.message }, 'route skipped: it cannot be compiled');
        const i = entries.findIndex((e) => e.id === err.routeId);
        if (i === -1) throw err;
        entries.splice(i, 1);
      }
    }

    const stream = buildStreamRouter(view, this.registry, runtimeFor, this.log,
      (plugin, conf, env) => this.prepareCache.get(plugin, conf, env));
    for (const [key, rt] of this.runtimes) if (!nextRuntimes.has(key)) rt.close();
    this.runtimes = nextRuntimes;
    this.routeCache = nextCache;

    const ssls: (Ssl & { id: string })[] = [];
    for (const obj of view.list('ssls')) ssls.push({ ...(obj.value as unknown as Ssl), id: obj.id });
    const tls = new SniIndex(ssls, {
      protocols: this.opts.defaultTlsProtocols,
      ciphers: this.opts.tlsCiphers,
      defaultSslId: this.opts.defaultSslId,
    }, (id, msg) => this.log.error({ ssl_id: id, err: msg }, 'ssl object skipped'));

    return {
      revision: view.revision, router, tls, plugins, hasGlobalPlugins: plugins.global.all.length > 0, matchReadsBody,
      withUpstream: this.variantsFor(view), stream,
    };
  }

  close(): void {
    for (const rt of this.runtimes.values()) rt.close();
    this.runtimes.clear();
  }

  private compileRoute(id: string, route: Route, view: ConfigView,
    runtimeFor: (conf: Upstream, name: string) => UpstreamRuntime, plugins: PluginSnapshot): CompiledRoute {
    let service: (Service & { id: string }) | undefined;
    let upstreamError: ErrorCode | undefined;
    let upConf: Upstream | undefined;
    let upName = `route ${id}`;
    if (route.service_id !== undefined) {
      const s = view.get('services', String(route.service_id));
      if (s === undefined) upstreamError = 'GH_ERR_SERVICE_NOT_FOUND';
      else service = { ...(s.value as Service), id: s.id };
    }
    if (route.upstream !== undefined) upConf = route.upstream;
    else if (route.upstream_id !== undefined) {
      const u = view.get('upstreams', String(route.upstream_id));
      if (u !== undefined) { upConf = u.value as Upstream; upName = `upstream ${u.id}`; }
      else upstreamError = 'GH_ERR_UPSTREAM_NOT_FOUND';
    } else if (service !== undefined) {
      if (service.upstream !== undefined) { upConf = service.upstream; upName = `service ${service.id}`; }
      else if (service.upstream_id !== undefined) {
        const u = view.get('upstreams', String(service.upstream_id));
        if (u !== undefined) { upConf = u.value as Upstream; upName = `upstream ${u.id}`; }
        else upstreamError = 'GH_ERR_UPSTREAM_NOT_FOUND';
      }
    }
    if (upConf === undefined && upstreamError === undefined) upstreamError = 'GH_ERR_UPSTREAM_NOT_FOUND';
    // As APISIX: a plugin config deleted with ?force=true is a 503, checked before the service.
    if (route.plugin_config_id !== undefined && view.get('plugin_configs', String(route.plugin_config_id)) === undefined) {
      upstreamError = 'GH_ERR_PLUGIN_CONFIG_NOT_FOUND';
      this.log.error({ route_id: id, plugin_config_id: route.plugin_config_id }, 'route answers 503: its plugin config is missing');
    }
    // A route that cannot be served does not run its own plugins (an auth plugin would answer first).
    const unservable = upstreamError === 'GH_ERR_PLUGIN_CONFIG_NOT_FOUND' || upstreamError === 'GH_ERR_SERVICE_NOT_FOUND';
    const target = this.upstreamTarget(id, route, upConf, upName, upstreamError, view, runtimeFor);
    const rp = unservable ? undefined : plugins.forRoute({ id, plugins: route.plugins, plugin_config_id: route.plugin_config_id },
      service !== undefined ? { id: service.id, plugins: service.plugins } : undefined);
    return {
      plugins: rp !== undefined && rp.sources.length > 0 ? rp : undefined,
      id,
      name: route.name,
      conf: route,
      service,
      websocket: route.enable_websocket ?? service?.enable_websocket ?? false,
      ...target,
    };
  }

  /** What proxying to `upConf` needs: its runtime (balancer, health checks), pool settings, timeouts. */
  private upstreamTarget(id: string, route: Route, upConf: Upstream | undefined, upName: string,
    upstreamError: ErrorCode | undefined, view: ConfigView,
    runtimeFor: (conf: Upstream, name: string) => UpstreamRuntime): UpstreamTarget {
    let clientCert: { cert: string; key: string } | undefined;
    if (upConf !== undefined && upConf.tls?.client_cert_id !== undefined) {
      const certId = String(upConf.tls.client_cert_id);
      const ssl = view.get('ssls', certId)?.value as Ssl | undefined;
      if (ssl === undefined || ssl.type !== 'client' || ssl.status === 0) {
        // Connecting without the certificate the upstream expects would only trade a clear error for an opaque one.
        this.log.error({ route_id: id, ssl_id: certId }, 'upstream tls.client_cert_id names no enabled client certificate');
        upstreamError ??= 'GH_ERR_UPSTREAM_TLS';
      } else {
        clientCert = { cert: ssl.cert, key: ssl.key };
      }
    }
    let upstreamErrorMessage: string | undefined;
    const discoveryType = upConf?.discovery_type;
    if (discoveryType !== undefined && upstreamError === undefined && this.opts.discovery?.enabled(discoveryType) !== true) {
      // The Admin API refuses such an upstream; a standalone file or another node's write can still hold one.
      upstreamError = 'GH_ERR_DISCOVERY_UNINITIALIZED';
      upstreamErrorMessage = `discovery ${discoveryType} is uninitialized`;
      // once per route and type: every rebuild meets the route again
      const reported = `${id}\0${discoveryType}`;
      if (!this.disabledDiscoveryReported.has(reported)) {
        this.disabledDiscoveryReported.add(reported);
        this.log.error({ route_id: id, discovery_type: discoveryType }, 'route answers 503: its upstream names a discovery type this node does not enable');
      }
    }
    const upstream = upConf !== undefined && upstreamError === undefined ? runtimeFor(upConf, upName) : undefined;
    const t = route.timeout ?? upConf?.timeout ?? {};
    const connectTimeoutMs = (t.connect ?? 60) * 1000;
    const scheme = upConf?.scheme ?? 'http';
    return {
      upstream,
      upstreamError,
      ...(upstreamErrorMessage !== undefined ? { upstreamErrorMessage } : {}),
      pool: upConf !== undefined ? poolSettingsOf(upConf, connectTimeoutMs, clientCert) : undefined,
      h2Upstream: scheme !== 'http' && scheme !== 'https',
      passHost: upConf?.pass_host ?? 'pass',
      upstreamHost: upConf?.upstream_host,
      connectTimeoutMs,
      sendTimeoutMs: (t.send ?? 60) * 1000,
      readTimeoutMs: (t.read ?? 60) * 1000,
      hashKey: upConf?.type === 'chash' ? hashKeyResolver(upConf, { name: upName }) : undefined,
    };
  }

  /**
   * `route` proxying to a plugin's choice of upstream (PluginContext.setUpstream). Built
   * on first use and kept per snapshot, route and choice (an inline upstream by object
   * identity), so a request pays a map lookup; a route that never chooses pays nothing.
   */
  private variantsFor(view: ConfigView): (route: CompiledRoute, choice: UpstreamChoice) => CompiledRoute {
    const variants = new WeakMap<CompiledRoute, Map<unknown, CompiledRoute>>();
    const runtimeFor = (conf: Upstream, name: string): UpstreamRuntime => {
      const key = this.keyOf(conf);
      let rt = this.runtimes.get(key);
      if (rt === undefined) {
        rt = this.newRuntime(conf, name);
        this.runtimes.set(key, rt);
      }
      return rt;
    };
    return (route, choice) => {
      let byChoice = variants.get(route);
      if (byChoice === undefined) variants.set(route, byChoice = new Map());
      const key = 'upstream_id' in choice ? `id:${choice.upstream_id}` : choice.upstream;
      let variant = byChoice.get(key);
      if (variant === undefined) {
        let upConf: Upstream | undefined;
        let upName = `route ${route.id} plugin upstream`;
        if ('upstream_id' in choice) {
          const u = view.get('upstreams', String(choice.upstream_id));
          upConf = u?.value as Upstream | undefined;
          upName = `upstream ${choice.upstream_id}`;
        } else {
          upConf = choice.upstream as unknown as Upstream;
        }
        const error: ErrorCode | undefined = upConf === undefined ? 'GH_ERR_UPSTREAM_NOT_FOUND' : undefined;
        variant = { ...route, ...this.upstreamTarget(route.id, route.conf, upConf, upName, error, view, runtimeFor) };
        byChoice.set(key, variant);
      }
      return variant;
    };
  }
}

/** Whether a route's `vars` rule names a body variable (a rule that does not compile reads nothing: validation refused it). */
function readsBody(vars: unknown): boolean {
  try {
    return usesBodyVariable(exprVariables(vars));
  } catch {
    return false;
  }
}

