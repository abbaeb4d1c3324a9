import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { DiscoveredNode } from '../contracts/discovery.js';
import type { KubernetesDiscoveryConfig } from '../contracts/node-config.js';
import { compileRe2, translatePcre } from '../core/expr/pcre.js';
import { Backoff, parseJson, pause, RegistryHttp, where } from './registry-http.js';
import { hostPort } from '../core/host-port.js';

// One Kubernetes cluster's endpoints, kept current the way an informer does: list every
// Endpoints (or EndpointSlice) object through the API server, then watch from the list's
// resourceVersion (`?watch=true`, a stream of JSON lines `{"type", "object"}`); a watch that
// ends is resumed from the last version seen, a `410 Gone` or a failure means a new list.
// The result is, per `namespace/name`, the ready addresses per port name (the port's
// number when it has no name), as APISIX builds it.

const PAGE_SIZE = 120;
/** The API server ends a watch after this many seconds (plus jitter); it is then resumed. */
const WATCH_SECONDS = 290;
/** The longest line of a watch stream read (one object). */
const MAX_EVENT_BYTES = 16 * 1024 * 1024;
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

type PortNodes = Map<string, DiscoveredNode[]>;

interface ObjectMeta { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> }
interface EndpointPort { name?: string; port?: number }
interface EndpointsObject {
  metadata?: ObjectMeta;
  subsets?: { addresses?: { ip?: string }[]; ports?: EndpointPort[] }[];
}
interface EndpointSliceObject {
  metadata?: ObjectMeta;
  endpoints?: { addresses?: string[]; conditions?: { ready?: boolean } }[] | null;
  ports?: EndpointPort[] | null;
}
interface ListReply { kind?: string; metadata?: { resourceVersion?: string; continue?: string }; items?: unknown[] }

export interface ClusterEvents {
  /** The endpoints of `key` (`namespace/name`) changed; undefined: everything may have (a new list). */
  changed(key: string | undefined): void;
  failed(err: unknown): void;
  succeeded(): void;
}

export class KubernetesCluster {
  /** `namespace/name` → port name → nodes, sorted by host then port. */
  private endpoints = new Map<string, PortNodes>();
  /** EndpointSlices: `namespace/name` → slice name → its part. */
  private slices = new Map<string, Map<string, PortNodes>>();
  private readonly http: RegistryHttp;
  private readonly base: string;
  private readonly path: string;
  private readonly listKind: string;
  private readonly namespaceAllowed: (ns: string) => boolean;
  private readonly stop = new AbortController();
  /** A first list completed: lookups answer from it. */
  listed = false;

  constructor(private readonly conf: KubernetesDiscoveryConfig, private readonly events: ClusterEvents) {
    const s = conf.service;
    this.base = `${s.schema}://${hostPort(s.host, s.port)}`;
    this.path = conf.watch_endpoint_slices ? '/apis/discovery.k8s.io/v1/endpointslices' : '/api/v1/endpoints';
    this.listKind = conf.watch_endpoint_slices ? 'EndpointSliceList' : 'EndpointsList';
    this.http = new RegistryHttp({ connectTimeoutMs: 5_000, readTimeoutMs: 30_000, tls: tlsOf(conf) });
    this.namespaceAllowed = namespaceFilter(conf);
  }

  start(): void {
    void this.run();
  }

  close(): void {
    this.stop.abort();
    this.http.close();
  }

  /** The nodes of `namespace/name` on `port` (a name or number); [] when there are none. */
  nodes(key: string, port: string): DiscoveredNode[] {
    return this.endpoints.get(key)?.get(port) ?? [];
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    const backoff = new Backoff(30_000);
    while (!signal.aborted) {
      try {
        let version = await this.list(signal);
        backoff.reset();
        this.events.succeeded();
        for (;;) {
          const next = await this.watch(version, signal);
          if (next === undefined) break; // gone: list again
          version = next;
        }
      } catch (err) {
        if (signal.aborted) return;
        this.events.failed(err);
        await pause(backoff.next(), signal);
      }
    }
  }

  private query(extra: Record<string, string>): string {
    const q = new URLSearchParams(extra);
    if (this.conf.label_selector !== undefined && this.conf.label_selector !== '') q.set('labelSelector', this.conf.label_selector);
    const ns = this.conf.namespace_selector;
    if (ns?.equal !== undefined) q.set('fieldSelector', `metadata.namespace=${ns.equal}`);
    if (ns?.not_equal !== undefined) q.set('fieldSelector', `metadata.namespace!=${ns.not_equal}`);
    return q.toString();
  }

  private async headers(): Promise<Record<string, string>> {
    const token = this.conf.client.token ?? (await readFile(this.conf.client.token_file!, 'utf8').catch((err: Error) => {
      throw new Error(`cannot read the token file ${this.conf.client.token_file!}: ${err.message}`, { cause: err });
    })).trim();
    if (token === '' && this.conf.service.schema === 'https') throw new Error(`the token file ${this.conf.client.token_file!} is empty`);
    return token === '' ? {} : { authorization: `Bearer ${token}` };
  }

  /** Every object, page by page; replaces what was known. Returns the list's resourceVersion. */
  private async list(signal: AbortSignal): Promise<string> {
    const endpoints = new Map<string, PortNodes>();
    const slices = new Map<string, Map<string, PortNodes>>();
    const headers = await this.headers();
    let cont = '';
    let version = '';
    do {
      const url = `${this.base}${this.path}?${this.query({ limit: String(PAGE_SIZE), ...(cont !== '' ? { continue: cont } : {}) })}`;
      const reply = await this.http.fetch(url, { headers, signal });
      if (reply.status !== 200) throw new Error(`${where(url)}: list answered ${reply.status}${reply.text !== '' ? ` ${reply.text.slice(0, 200)}` : ''}`);
      const body = parseJson(url, reply) as ListReply;
      if (body.kind !== this.listKind) throw new Error(`${where(url)}: expected a ${this.listKind}, got ${String(body.kind)}`);
      for (const item of body.items ?? []) this.apply('ADDED', item, endpoints, slices);
      version = body.metadata?.resourceVersion ?? '';
      cont = body.metadata?.continue ?? '';
    } while (cont !== '' && !signal.aborted);
    this.endpoints = endpoints;
    this.slices = slices;
    this.listed = true;
    this.events.changed(undefined);
    return version;
  }

  /** One watch from `version`; the last version seen when it ended, undefined when the version is gone (list again). */
  private async watch(version: string, signal: AbortSignal): Promise<string | undefined> {
    const seconds = WATCH_SECONDS + Math.floor(Math.random() * 20);
    const url = `${this.base}${this.path}?${this.query({ watch: 'true', allowWatchBookmarks: 'true', timeoutSeconds: String(seconds), resourceVersion: version })}`;
    const res = await this.http.send(url, { headers: await this.headers(), signal, readTimeoutMs: (seconds + 30) * 1000 });
    if (res.statusCode === 410) {
      res.body.destroy();
      return undefined;
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text().catch(() => '');
      throw new Error(`${where(url)}: watch answered ${res.statusCode}${text !== '' ? ` ${text.slice(0, 200)}` : ''}`);
    }
    let buffered = '';
    // a character's bytes may be split across chunks
    const text = new StringDecoder('utf8');
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        buffered += text.write(chunk);
        if (buffered.length > MAX_EVENT_BYTES) throw new Error(`${where(url)}: a watch event over ${MAX_EVENT_BYTES} bytes`);
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line === '') continue;
          const next = this.event(url, line);
          if (next === undefined) return undefined;
          version = next;
        }
      }
    } finally {
      res.body.destroy();
    }
    return version;
  }

  /** Applies one watch event; the object's resourceVersion, or undefined on `410 Gone`. */
  private event(url: string, line: string): string | undefined {
    let event: { type?: string; object?: { metadata?: ObjectMeta; code?: number; message?: string } };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      throw new Error(`${where(url)}: a watch event is not JSON`);
    }
    if (event.type === 'ERROR') {
      if (event.object?.code === 410) return undefined;
      throw new Error(`${where(url)}: watch error ${String(event.object?.code)} ${event.object?.message ?? ''}`);
    }
    if (event.object === undefined || event.type === undefined) throw new Error(`${where(url)}: a watch event without type or object`);
    if (event.type !== 'BOOKMARK') {
      const key = this.apply(event.type, event.object, this.endpoints, this.slices);
      if (key !== undefined) this.events.changed(key);
    }
    return event.object.metadata?.resourceVersion ?? '';
  }

  /** An object added, modified or deleted; the `namespace/name` it concerns (undefined: none of ours). */
  private apply(type: string, object: unknown, endpoints: Map<string, PortNodes>, slices: Map<string, Map<string, PortNodes>>): string | undefined {
    const meta = (object as { metadata?: ObjectMeta }).metadata;
    const ns = meta?.namespace;
    if (meta?.name === undefined || ns === undefined || !this.namespaceAllowed(ns)) return undefined;
    const deleted = type === 'DELETED';
    if (!this.conf.watch_endpoint_slices) {
      const key = `${ns}/${meta.name}`;
      if (deleted) endpoints.delete(key);
      else endpoints.set(key, this.fromEndpoints(object as EndpointsObject));
      return key;
    }
    const service = meta.labels?.[SERVICE_NAME_LABEL];
    if (service === undefined) return undefined;
    const key = `${ns}/${service}`;
    let parts = slices.get(key);
    if (parts === undefined) slices.set(key, parts = new Map());
    if (deleted) parts.delete(meta.name);
    else parts.set(meta.name, this.fromSlice(object as EndpointSliceObject));
    const merged: PortNodes = new Map();
    for (const part of parts.values()) {
      for (const [port, nodes] of part) merged.set(port, [...(merged.get(port) ?? []), ...nodes]);
    }
    for (const nodes of merged.values()) nodes.sort(byAddress);
    if (parts.size === 0) {
      slices.delete(key);
      endpoints.delete(key);
    } else {
      endpoints.set(key, merged);
    }
    return key;
  }

  private fromEndpoints(o: EndpointsObject): PortNodes {
    const out: PortNodes = new Map();
    for (const subset of o.subsets ?? []) {
      for (const port of subset.ports ?? []) {
        if (port.port === undefined) continue;
        const nodes = at(out, portName(port));
        for (const a of subset.addresses ?? []) if (a.ip !== undefined) nodes.push({ host: a.ip, port: port.port, weight: this.conf.default_weight });
      }
    }
    for (const nodes of out.values()) nodes.sort(byAddress);
    return out;
  }

  /** Ready endpoints only; a `ready` condition left out means ready, as the API defines it. */
  private fromSlice(o: EndpointSliceObject): PortNodes {
    const out: PortNodes = new Map();
    for (const port of o.ports ?? []) {
      if (port.port === undefined) continue;
      const nodes = at(out, portName(port));
      for (const ep of o.endpoints ?? []) {
        if (ep.conditions?.ready === false) continue;
        for (const ip of ep.addresses ?? []) nodes.push({ host: ip, port: port.port, weight: this.conf.default_weight });
      }
    }
    return out;
  }
}

function portName(p: EndpointPort): string {
  return p.name !== undefined && p.name !== '' ? p.name : String(p.port);
}

function at(map: PortNodes, port: string): DiscoveredNode[] {
  let nodes = map.get(port);
  if (nodes === undefined) map.set(port, nodes = []);
  return nodes;
}

function byAddress(a: DiscoveredNode, b: DiscoveredNode): number {
  return a.host < b.host ? -1 : a.host > b.host ? 1 : (a.port ?? 0) - (b.port ?? 0);
}

/** `match` / `not_match`: namespaces compared whole against each regex (RE2); `equal` / `not_equal` are field selectors. */
function namespaceFilter(conf: KubernetesDiscoveryConfig): (ns: string) => boolean {
  const sel = conf.namespace_selector;
  const compile = (patterns: string[]) => patterns.map((p) => compileRe2(translatePcre(p), p));
  if (sel?.match !== undefined) {
    const res = compile(sel.match);
    return (ns) => res.some((re) => re.matches(ns));
  }
  if (sel?.not_match !== undefined) {
    const res = compile(sel.not_match);
    return (ns) => !res.some((re) => re.matches(ns));
  }
  return () => true;
}

/**
 * `ssl_verify` (APISIX's default: false) checks the API server's certificate against the
 * `ca.crt` beside a service account token file (the cluster's CA) when there is one, else
 * against the system CAs.
 */
function tlsOf(conf: KubernetesDiscoveryConfig): { verify: boolean; ca?: string } {
  if (!conf.service.ssl_verify) return { verify: false };
  const file = conf.client.token_file;
  const caFile = file !== undefined ? join(dirname(file), 'ca.crt') : undefined;
  return caFile !== undefined && existsSync(caFile) ? { verify: true, ca: readFileSync(caFile, 'utf8') } : { verify: true };
}
