import { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { DiscoveredNode } from '../contracts/discovery.js';
import type { DnsDiscoveryConfig, DnsRecordType } from '../contracts/node-config.js';
import type { Registry, RegistryContext, RegistryFactory, WantedService } from './registry.js';
import { Backoff, pause } from './registry-http.js';
import { ServiceLoops } from './service-loops.js';

// The `dns` registry (APISIX's discovery/dns): `service_name` is `host` or `host:port`,
// resolved through the configured servers, every record becoming a node. Record types are
// tried in `order` (`last`: the type that answered last time for that name); SRV records
// give port, weight and priority (negated, as APISIX: a lower SRV priority is served
// first), A/AAAA/CNAME ones weight 1 and the port of `service_name` (else the upstream
// scheme's default). A name is resolved again when its answer's TTL runs out.

/** An answer with TTL 0 (or a negative one) is asked again after this. */
const MIN_REFRESH_MS = 1_000;
/** Node's resolver does not report an SRV record's own TTL: an SRV answer lives at most this long (or less, by its targets' A/AAAA TTLs). */
export const SRV_MAX_REFRESH_MS = 30_000;
const MAX_REFRESH_MS = 24 * 3600_000;
/** A name that has no record of any type is asked again after this. */
const NO_RECORD_REFRESH_MS = 5_000;
/** After a failure: 1 s, doubling up to this. */
const MAX_BACKOFF_MS = 30_000;

/** Answers that mean "this name has no such record", as opposed to "the server could not be asked". */
const NO_RECORD = new Set(['ENODATA', 'ENOTFOUND', 'ENONAME']);

interface Answer {
  nodes: DiscoveredNode[];
  ttlMs: number;
}

/** One lookup of a name through the types in order: what answered, or why none could be asked. */
type Lookup = { type: DnsRecordType; answer: Answer } | { failure: unknown } | { noRecord: true };

export function dnsRegistry(conf: DnsDiscoveryConfig): RegistryFactory {
  const settings = resolverSettings(conf);
  return (ctx) => new DnsRegistry(conf.order, settings, ctx);
}

interface ResolverSettings { servers: string[]; timeoutMs: number; tries: number }

/** `servers`, or the nameservers (and `options timeout:`/`attempts:`) of `resolv_conf`; throws naming the key. */
export function resolverSettings(conf: DnsDiscoveryConfig): ResolverSettings {
  if (conf.servers !== undefined) return { servers: conf.servers, timeoutMs: 2_000, tries: 2 };
  const file = conf.resolv_conf!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`discovery.dns.resolv_conf: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const servers: string[] = [];
  let timeoutMs = 2_000;
  let tries = 2;
  for (const line of text.split('\n')) {
    const [word, ...rest] = line.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (word === 'nameserver' && rest[0] !== undefined && isIP(rest[0]) !== 0) servers.push(rest[0]);
    if (word !== 'options') continue;
    for (const opt of rest) {
      const [name, value] = opt.split(':');
      if (name === 'timeout' && Number(value) > 0) timeoutMs = Number(value) * 1000;
      if (name === 'attempts' && Number(value) > 0) tries = Number(value);
    }
  }
  if (servers.length === 0) throw new Error(`discovery.dns.resolv_conf: ${file} names no nameserver`);
  return { servers, timeoutMs, tries };
}

/** `host` or `host:port` (`[v6]:port` for an IPv6 literal). */
export function splitServiceName(name: string): { host: string; port: number | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(name);
  if (bracketed !== null) return { host: bracketed[1]!, port: bracketed[2] !== undefined ? Number(bracketed[2]) : undefined };
  const colon = name.lastIndexOf(':');
  if (colon < 0 || name.indexOf(':') !== colon || !/^\d+$/.test(name.slice(colon + 1))) return { host: name, port: undefined };
  return { host: name.slice(0, colon), port: Number(name.slice(colon + 1)) };
}

class DnsRegistry implements Registry {
  private readonly resolver: Resolver;
  private readonly loops: ServiceLoops;

  constructor(private readonly order: readonly (DnsRecordType | 'last')[], settings: ResolverSettings,
    private readonly ctx: RegistryContext) {
    this.resolver = new Resolver({ timeout: settings.timeoutMs, tries: settings.tries });
    this.resolver.setServers(settings.servers);
    this.loops = new ServiceLoops((service, signal) => this.watch(service, signal), ctx.log);
  }

  want(services: readonly WantedService[]): void {
    this.loops.want(services);
  }

  close(): void {
    this.loops.close();
    this.resolver.cancel();
  }

  /** Resolves the service's name again when its answer's TTL runs out, or after a back-off when it could not be asked. */
  private async watch(s: WantedService, signal: AbortSignal): Promise<void> {
    const { host, port } = splitServiceName(s.ref.name);
    if (isIP(host) !== 0) {
      // an address needs no lookup and never changes
      this.ctx.publish(s.key, [{ host, weight: 1, ...(port !== undefined ? { port } : {}) }]);
      return;
    }
    const backoff = new Backoff(MAX_BACKOFF_MS);
    let lastType: DnsRecordType | undefined;
    while (!signal.aborted) {
      const found = await this.lookup(host, lastType);
      if (signal.aborted) return;
      let nextMs: number;
      if ('failure' in found) {
        this.ctx.failed(new Error(`${host}: ${describe(found.failure)}`), s.key);
        nextMs = backoff.next();
      } else if ('noRecord' in found) {
        // every type answered that the name has no such record: the service has no nodes
        backoff.reset();
        this.ctx.publish(s.key, []);
        this.ctx.succeeded();
        nextMs = NO_RECORD_REFRESH_MS;
      } else {
        backoff.reset();
        lastType = found.type;
        const nodes = port === undefined ? found.answer.nodes : found.answer.nodes.map((n) => ({ ...n, port }));
        this.ctx.publish(s.key, nodes);
        this.ctx.succeeded();
        nextMs = found.answer.ttlMs;
      }
      await pause(Math.min(MAX_REFRESH_MS, Math.max(MIN_REFRESH_MS, nextMs)), signal);
    }
  }

  /** The first type in order that has records; a failure only when no type answered and one could not be asked. */
  private async lookup(host: string, lastType: DnsRecordType | undefined): Promise<Lookup> {
    let failure: unknown;
    for (const type of this.typesFor(lastType)) {
      try {
        const answer = await this.query(type, host);
        if (answer !== undefined) return { type, answer };
      } catch (err) {
        failure ??= err;
      }
    }
    return failure !== undefined ? { failure } : { noRecord: true };
  }

  private typesFor(lastType: DnsRecordType | undefined): DnsRecordType[] {
    const out: DnsRecordType[] = [];
    for (const t of this.order) {
      const type = t === 'last' ? lastType : t;
      if (type !== undefined && !out.includes(type)) out.push(type);
    }
    return out;
  }

  /** The records of one type as nodes; undefined when the name has none of that type; throws when the server could not answer. */
  private async query(type: DnsRecordType, host: string): Promise<Answer | undefined> {
    switch (type) {
      case 'A':
      case 'AAAA':
        return this.addresses(host, type);
      case 'CNAME': {
        const targets = await noRecordAsEmpty(this.resolver.resolveCname(host));
        // Node's A/AAAA lookups follow CNAME chains themselves; this type only matters when listed before them
        for (const target of targets) {
          const answer = await this.addresses(target, 'A') ?? await this.addresses(target, 'AAAA');
          if (answer !== undefined) return answer;
        }
        return undefined;
      }
      case 'SRV':
        return this.srv(host);
    }
  }

  private async addresses(host: string, type: 'A' | 'AAAA'): Promise<Answer | undefined> {
    const records = await noRecordAsEmpty(type === 'A' ? this.resolver.resolve4(host, { ttl: true }) : this.resolver.resolve6(host, { ttl: true }));
    if (records.length === 0) return undefined;
    return { nodes: records.map((r) => ({ host: r.address, weight: 1 })), ttlMs: Math.min(...records.map((r) => r.ttl)) * 1000 };
  }

  /**
   * Each SRV record's target resolved to its addresses (A, else AAAA); the record's weight
   * is split evenly among them (0 counts as 1, as RFC 2782 asks for a small chance), port 0
   * means the scheme's default, and the SRV priority is negated into the node's.
   */
  private async srv(host: string): Promise<Answer | undefined> {
    const records = await noRecordAsEmpty(this.resolver.resolveSrv(host));
    if (records.length === 0) return undefined;
    const nodes: DiscoveredNode[] = [];
    let ttlMs = SRV_MAX_REFRESH_MS;
    for (const r of records) {
      let addresses: { host: string }[];
      if (isIP(r.name) !== 0) addresses = [{ host: r.name }];
      else {
        const answer = await this.addresses(r.name, 'A') ?? await this.addresses(r.name, 'AAAA');
        if (answer === undefined) continue;
        addresses = answer.nodes;
        ttlMs = Math.min(ttlMs, answer.ttlMs);
      }
      const weight = Math.max(1, Math.floor((r.weight === 0 ? 1 : r.weight) / addresses.length));
      for (const a of addresses) {
        nodes.push({ host: a.host, weight, priority: -r.priority, ...(r.port !== 0 ? { port: r.port } : {}) });
      }
    }
    return { nodes, ttlMs };
  }
}

async function noRecordAsEmpty<T>(lookup: Promise<T[]>): Promise<T[]> {
  try {
    return await lookup;
  } catch (err) {
    if (NO_RECORD.has((err as NodeJS.ErrnoException).code ?? '')) return [];
    throw err;
  }
}

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code !== undefined ? `${code} (${(err as Error).message})` : String(err);
}
