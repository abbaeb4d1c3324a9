import { createHmac } from 'node:crypto';
import type { DiscoveredNode } from '../contracts/discovery.js';
import type { NacosDiscoveryConfig } from '../contracts/node-config.js';
import type { Registry, RegistryContext, RegistryFactory, WantedService } from './registry.js';
import { credentialedBase, fromRandomStart, parseJson, pause, RegistryHttp, where, type CredentialedBase } from './registry-http.js';
import { NACOS_DEFAULT_GROUP, NACOS_DEFAULT_NAMESPACE } from './service-key.js';

// The `nacos` registry (APISIX's discovery/nacos, Nacos's v1 open API): every
// `fetch_interval` the healthy instances of each service the configuration names are read
// from `<host><prefix>ns/instance/list?healthyOnly=true&serviceName=…&namespaceId=…&groupName=…`
// (namespace and group from the upstream's `discovery_args`). One host answers a round: they
// are tried in turn from a random one, and a host whose login fails or that answers no
// service at all is passed over. Credentials in a host's URL mean a token login first
// (`POST <prefix>auth/login`, the password in the form body, never in a URL); the token
// goes on each list request as `accessToken`. A service newly named is read at once, not at
// the next round.

/** Instance lists read at once from one host. */
const CONCURRENT_REQUESTS = 8;

interface NacosInstance {
  ip?: string;
  port?: number;
  weight?: number;
  healthy?: boolean;
  enabled?: boolean;
  metadata?: Record<string, string>;
}

export function nacosRegistry(conf: NacosDiscoveryConfig): RegistryFactory {
  const hosts = conf.host.map((h) => credentialedBase(h, conf.prefix));
  return (ctx) => new NacosRegistry(conf, hosts, ctx);
}

class NacosRegistry implements Registry {
  private readonly wanted = new Map<string, WantedService>();
  private readonly http: RegistryHttp;
  private readonly stop = new AbortController();
  private started = false;

  constructor(private readonly conf: NacosDiscoveryConfig, private readonly hosts: CredentialedBase[], private readonly ctx: RegistryContext) {
    const t = conf.timeout;
    this.http = new RegistryHttp({ connectTimeoutMs: t.connect, readTimeoutMs: t.read, totalTimeoutMs: t.connect + t.send + t.read });
  }

  want(services: readonly WantedService[]): void {
    const added: WantedService[] = [];
    const keys = new Set(services.map((s) => s.key));
    for (const key of this.wanted.keys()) if (!keys.has(key)) this.wanted.delete(key);
    for (const s of services) {
      if (this.wanted.has(s.key)) continue;
      this.wanted.set(s.key, s);
      added.push(s);
    }
    if (!this.started) {
      this.started = true;
      void this.rounds();
    } else if (added.length > 0) {
      void this.round(added);
    }
  }

  close(): void {
    this.stop.abort();
    this.http.close();
  }

  private async rounds(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      if (this.wanted.size > 0) await this.round([...this.wanted.values()]);
      await pause(this.conf.fetch_interval * 1000, signal);
    }
  }

  /** One round: the first host (from a random one) that logs in and answers some service. */
  private async round(services: WantedService[]): Promise<void> {
    let failure: unknown;
    for (const host of fromRandomStart(this.hosts)) {
      if (this.stop.signal.aborted) return;
      try {
        const token = await this.login(host);
        const results = await mapLimit(services, CONCURRENT_REQUESTS, (s) => this.instances(host, token, s));
        if (this.stop.signal.aborted) return;
        const failed = results.filter((r): r is { error: unknown } => 'error' in r);
        if (failed.length === services.length) {
          failure = failed[0]!.error;
          continue;
        }
        results.forEach((r, j) => {
          const key = services[j]!.key;
          if ('nodes' in r) this.ctx.publish(key, r.nodes);
          else this.ctx.failed(r.error, key);
        });
        if (failed.length === 0) this.ctx.succeeded();
        return;
      } catch (err) {
        failure = err;
      }
    }
    if (!this.stop.signal.aborted) this.ctx.failed(failure ?? new Error('no nacos host answered'));
  }

  /** `&accessToken=` for a host with credentials, '' without. */
  private async login(host: CredentialedBase): Promise<string> {
    if (host.username === undefined) return '';
    const url = `${host.base}auth/login`;
    const reply = await this.http.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: host.username, password: host.password ?? '' }).toString(),
      signal: this.stop.signal,
    });
    if (reply.status !== 200) throw new Error(`${where(url)}: login as ${host.username} refused (${reply.status})`);
    const token = (parseJson(url, reply) as { accessToken?: unknown }).accessToken;
    if (typeof token !== 'string' || token === '') throw new Error(`${where(url)}: login answer has no accessToken`);
    return `&accessToken=${encodeURIComponent(token)}`;
  }

  private async instances(host: CredentialedBase, token: string, s: WantedService): Promise<{ nodes: DiscoveredNode[] } | { error: unknown }> {
    const namespace = s.ref.args?.namespace_id ?? NACOS_DEFAULT_NAMESPACE;
    const group = s.ref.args?.group_name ?? NACOS_DEFAULT_GROUP;
    const query = new URLSearchParams({ healthyOnly: 'true', serviceName: s.ref.name, namespaceId: namespace, groupName: group });
    if (this.conf.access_key !== '') {
      const data = `${Date.now()}@@${group}@@${s.ref.name}`;
      query.set('ak', this.conf.access_key);
      query.set('data', data);
      query.set('signature', createHmac('sha1', this.conf.secret_key).update(data).digest('base64'));
    }
    const url = `${host.base}ns/instance/list?${query.toString()}${token}`;
    try {
      const reply = await this.http.fetch(url, { signal: this.stop.signal });
      if (reply.status !== 200) throw new Error(`${where(url)} (${s.ref.name}): answer ${reply.status}${reply.text !== '' ? ` ${reply.text.slice(0, 200)}` : ''}`);
      const hosts = (parseJson(url, reply) as { hosts?: unknown }).hosts;
      return { nodes: Array.isArray(hosts) ? this.nodesOf(hosts as NacosInstance[]) : [] };
    } catch (error) {
      return { error };
    }
  }

  /** Healthy, enabled instances; an instance's own weight, else `weight`. */
  private nodesOf(instances: readonly NacosInstance[]): DiscoveredNode[] {
    const out: DiscoveredNode[] = [];
    for (const i of instances) {
      if (typeof i.ip !== 'string' || i.ip === '' || typeof i.port !== 'number' || i.healthy === false || i.enabled === false) continue;
      const node: DiscoveredNode = { host: i.ip, port: i.port, weight: typeof i.weight === 'number' ? i.weight : this.conf.weight };
      if (i.metadata !== undefined && Object.keys(i.metadata).length > 0) node.metadata = i.metadata;
      out.push(node);
    }
    return out;
  }
}

/** `fn` over `items`, at most `limit` at once; results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
