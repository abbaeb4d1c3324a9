import type { DiscoveredNode } from '../contracts/discovery.js';
import type { EurekaDiscoveryConfig } from '../contracts/node-config.js';
import type { Registry, RegistryContext, RegistryFactory, WantedService } from './registry.js';
import { credentialedBase, fromRandomStart, parseJson, pause, RegistryHttp, where, type CredentialedBase } from './registry-http.js';

// The `eureka` registry (APISIX's discovery/eureka): every `fetch_interval` the whole
// registry is read from `<host><prefix>apps` (hosts tried in turn from a random one,
// credentials in a host's URL sent as Basic auth). Instances whose status (an
// `overriddenStatus` other than UNKNOWN wins) is UP become nodes: `ipAddr`, the secure port
// when enabled, else the port when enabled, weight from the instance metadata's `weight`,
// else `weight`. `service_name` is the application's name, compared ignoring case (Eureka
// upper-cases the names it registers).

interface EurekaPort { $?: number | string; '@enabled'?: boolean | string }
interface EurekaInstance {
  ipAddr?: string;
  status?: string;
  overriddenStatus?: string;
  overriddenstatus?: string;
  port?: EurekaPort;
  securePort?: EurekaPort;
  metadata?: Record<string, string>;
}
/** Eureka's JSON writes a one-element list as the element itself. */
type OneOrMany<T> = T | T[] | undefined;
interface EurekaApps { applications?: { application?: OneOrMany<{ name?: string; instance?: OneOrMany<EurekaInstance> }> } }

export function eurekaRegistry(conf: EurekaDiscoveryConfig): RegistryFactory {
  const hosts = conf.host.map((h) => credentialedBase(h, conf.prefix));
  return (ctx) => new EurekaRegistry(conf, hosts, ctx);
}

class EurekaRegistry implements Registry {
  private wanted: readonly WantedService[] = [];
  /** Upper-cased application name → nodes; undefined until the first read. */
  private apps: Map<string, DiscoveredNode[]> | undefined;
  private readonly http: RegistryHttp;
  private readonly stop = new AbortController();

  constructor(private readonly conf: EurekaDiscoveryConfig, private readonly hosts: CredentialedBase[], private readonly ctx: RegistryContext) {
    const t = conf.timeout;
    this.http = new RegistryHttp({ connectTimeoutMs: t.connect, readTimeoutMs: t.read, totalTimeoutMs: t.connect + t.send + t.read });
    void this.rounds();
  }

  want(services: readonly WantedService[]): void {
    this.wanted = services;
    this.publish();
  }

  close(): void {
    this.stop.abort();
    this.http.close();
  }

  private publish(): void {
    const apps = this.apps;
    if (apps === undefined) return;
    for (const s of this.wanted) this.ctx.publish(s.key, apps.get(s.ref.name.toUpperCase()) ?? []);
  }

  private async rounds(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      await this.round();
      await pause(this.conf.fetch_interval * 1000, signal);
    }
  }

  private async round(): Promise<void> {
    let failure: unknown;
    for (const host of fromRandomStart(this.hosts)) {
      if (this.stop.signal.aborted) return;
      const url = `${host.base}apps`;
      try {
        const headers: Record<string, string> = host.username !== undefined
          ? { authorization: `Basic ${Buffer.from(`${host.username}:${host.password ?? ''}`).toString('base64')}` } : {};
        const reply = await this.http.fetch(url, { headers, signal: this.stop.signal });
        if (reply.status !== 200) throw new Error(`${where(url)}: answer ${reply.status}`);
        this.apps = this.applications(parseJson(url, reply) as EurekaApps, url);
        this.ctx.succeeded();
        this.publish();
        return;
      } catch (err) {
        failure = err;
      }
    }
    if (!this.stop.signal.aborted) this.ctx.failed(failure ?? new Error('no eureka host answered'));
  }

  private applications(body: EurekaApps, url: string): Map<string, DiscoveredNode[]> {
    if (body.applications === undefined) throw new Error(`${where(url)}: answer has no applications`);
    const out = new Map<string, DiscoveredNode[]>();
    for (const app of list(body.applications.application)) {
      if (app.name === undefined) continue;
      const nodes: DiscoveredNode[] = [];
      for (const instance of list(app.instance)) {
        const node = this.nodeOf(instance);
        if (node !== undefined) nodes.push(node);
      }
      out.set(app.name.toUpperCase(), nodes);
    }
    return out;
  }

  private nodeOf(i: EurekaInstance): DiscoveredNode | undefined {
    const overridden = i.overriddenStatus ?? i.overriddenstatus;
    const status = overridden !== undefined && overridden !== 'UNKNOWN' ? overridden : i.status;
    if (status !== 'UP' || i.ipAddr === undefined || i.ipAddr === '') return undefined;
    const port = enabledPort(i.securePort) ?? enabledPort(i.port);
    if (port === undefined) return undefined;
    // `@class` is an artefact of Eureka's JSON writer, not metadata
    const { weight, '@class': _class, ...metadata } = i.metadata ?? {};
    const w = weight !== undefined && /^\d+$/.test(weight) ? Number(weight) : this.conf.weight;
    return { host: i.ipAddr, port, weight: w, ...(Object.keys(metadata).length > 0 ? { metadata } : {}) };
  }
}

function list<T>(v: OneOrMany<T>): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function enabledPort(p: EurekaPort | undefined): number | undefined {
  if (p === undefined || String(p['@enabled']) !== 'true') return undefined;
  const n = Number(p.$);
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}
