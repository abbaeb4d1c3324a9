// Stream routes compiled for one config snapshot, and the match (APISIX's
// stream/router/ip_port.lua): a session that came with a TLS SNI tries the routes whose
// `sni` matches first (an exact name, then `*.` wildcards from the longest suffix; a
// wildcard also matches deeper names, as APISIX's radixtree on the reversed name does);
// then the routes without `sni`. A route matches when its `remote_addr`, `server_addr`
// (IP or CIDR) and `server_port` all match; an absent condition matches anything.
// Among the routes that match, the most specific wins (more conditions set, then the
// narrower CIDRs), then the lowest id; APISIX takes the first in store order, which
// lets a catch-all route shadow a narrower one depending on when each was written.
import type { StreamRoute, Service, Upstream } from '../../contracts/resources.js';
import type { ConfigView } from '../../contracts/store.js';
import type { Plugin, PrepareEnv } from '../../contracts/plugin.js';
import type { Logger } from '../../core/logger.js';
import { compileIpMatcher, type IpMatcher } from '../../core/ip-matcher.js';
import type { PluginRegistry } from '../../plugin-runtime/registry.js';
import type { UpstreamRuntime } from '../upstream/upstream-runtime.js';

/** One stream plugin instance of a route, prepared, in execution order. */
export interface StreamPluginInstance { readonly plugin: Plugin; readonly prepared: unknown }

export interface CompiledStreamRoute {
  readonly id: string;
  readonly conf: StreamRoute;
  /** Undefined when its upstream or service is missing: the session is closed (502). */
  readonly upstream: UpstreamRuntime | undefined;
  readonly plugins: readonly StreamPluginInstance[];
}

/** What a session is matched on. */
export interface StreamFacts {
  remoteAddr: string;
  serverAddr: string;
  serverPort: number;
  /** The TLS server name, lower-case; undefined on plain TCP and UDP. */
  sni: string | undefined;
}

interface Entry {
  route: CompiledStreamRoute;
  remote: IpMatcher | undefined;
  server: IpMatcher | undefined;
  port: number | undefined;
  specificity: number;
}

const prefixLength = (cidr: string | undefined): number => {
  if (cidr === undefined) return 0;
  const slash = cidr.indexOf('/');
  if (slash >= 0) return Number(cidr.slice(slash + 1));
  return cidr.includes(':') ? 128 : 32;
};

const byId = (a: string, b: string): number => {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isInteger(na) && Number.isInteger(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
};

function entryOf(route: CompiledStreamRoute): Entry {
  const c = route.conf;
  // a condition set counts more than any CIDR width, so three loose conditions beat two exact ones
  const specificity = ((c.remote_addr !== undefined ? 1 : 0) + (c.server_addr !== undefined ? 1 : 0)
    + (c.server_port !== undefined ? 1 : 0)) * 1000 + prefixLength(c.remote_addr) + prefixLength(c.server_addr);
  return {
    route,
    remote: c.remote_addr !== undefined ? compileIpMatcher([c.remote_addr]) : undefined,
    server: c.server_addr !== undefined ? compileIpMatcher([c.server_addr]) : undefined,
    port: c.server_port,
    specificity,
  };
}

const ordered = (entries: Entry[]): Entry[] =>
  entries.sort((a, b) => b.specificity - a.specificity || byId(a.route.id, b.route.id));

function addrsMatch(e: Entry, f: StreamFacts): boolean {
  if (e.port !== undefined && e.port !== f.serverPort) return false;
  if (e.remote !== undefined && !e.remote(f.remoteAddr)) return false;
  return e.server === undefined || e.server(f.serverAddr);
}

export class StreamRouter {
  private readonly exact = new Map<string, Entry[]>();
  /** `*.example.com` routes by their suffix (`.example.com`), longest suffix first. */
  private readonly wildcards: { suffix: string; entries: Entry[] }[] = [];
  private readonly plain: Entry[];

  constructor(routes: readonly CompiledStreamRoute[]) {
    const plain: Entry[] = [];
    const wild = new Map<string, Entry[]>();
    for (const route of routes) {
      const e = entryOf(route);
      const sni = route.conf.sni;
      if (sni === undefined) plain.push(e);
      else if (sni.startsWith('*')) {
        const suffix = sni.slice(1);
        wild.set(suffix, [...(wild.get(suffix) ?? []), e]);
      } else this.exact.set(sni, [...(this.exact.get(sni) ?? []), e]);
    }
    for (const list of this.exact.values()) ordered(list);
    for (const [suffix, entries] of wild) this.wildcards.push({ suffix, entries: ordered(entries) });
    this.wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    this.plain = ordered(plain);
  }

  match(f: StreamFacts): CompiledStreamRoute | undefined {
    if (f.sni !== undefined) {
      for (const e of this.exact.get(f.sni) ?? []) if (addrsMatch(e, f)) return e.route;
      for (const w of this.wildcards) {
        if (!f.sni.endsWith(w.suffix)) continue;
        for (const e of w.entries) if (addrsMatch(e, f)) return e.route;
      }
    }
    for (const e of this.plain) if (addrsMatch(e, f)) return e.route;
    return undefined;
  }
}

/** Stream plugins see no consumer; one array, so prepared instances are reused across builds. */
const NO_CONSUMERS: PrepareEnv['consumers'] = [];

/**
 * Compiles the stream routes of a view. Upstream runtimes come from the snapshot's
 * `runtimeFor`, so a stream route and an HTTP route on the same upstream share its
 * balancer and health checks. A route whose plugins cannot be prepared is not served.
 */
export function buildStreamRouter(view: ConfigView, registry: PluginRegistry,
  runtimeFor: (conf: Upstream, name: string) => UpstreamRuntime, log: Logger,
  prepare: (plugin: Plugin, conf: Record<string, unknown>, env: PrepareEnv) => unknown): StreamRouter {
  const routes: CompiledStreamRoute[] = [];
  for (const obj of view.list('stream_routes')) {
    const conf = obj.value as unknown as StreamRoute;
    const service = conf.service_id !== undefined ? view.get('services', String(conf.service_id))?.value as Service | undefined : undefined;
    const upId = conf.upstream_id ?? (conf.upstream === undefined ? service?.upstream_id : undefined);
    const upConf = conf.upstream ?? (upId !== undefined ? view.get('upstreams', String(upId))?.value as Upstream | undefined : service?.upstream);
    const upName = upId !== undefined ? String(upId) : `stream_route/${obj.id}`;
    try {
      const plugins: StreamPluginInstance[] = [];
      for (const lp of registry.list()) {
        const pconf = conf.plugins?.[lp.plugin.name];
        if (pconf === undefined || lp.plugin.stream === undefined) continue;
        // fills the schema's defaults in, as an HTTP route's chain does (the stored object may lack them)
        registry.checkInstance(lp.plugin.name, pconf, 'default', 'stream');
        const metadata = view.get('plugin_metadata', lp.plugin.name)?.value;
        const prepared = prepare(lp.plugin, pconf, { metadata, consumers: NO_CONSUMERS, subsystem: 'stream' });
        plugins.push({ plugin: lp.plugin, prepared });
      }
      const missing = Object.keys(conf.plugins ?? {}).filter((n) => registry.get(n)?.plugin.stream === undefined);
      if (missing.length > 0) throw new Error(`not stream plugins here: ${missing.join(', ')}`);
      routes.push({ id: obj.id, conf, upstream: upConf !== undefined ? runtimeFor(upConf, upName) : undefined, plugins });
    } catch (err) {
      log.error({ stream_route_id: obj.id, err: (err as Error).message }, 'stream route not served: its plugins cannot run');
    }
  }
  return new StreamRouter(routes);
}
