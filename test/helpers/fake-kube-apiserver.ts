// A local server speaking the part of the Kubernetes API the kubernetes discovery uses, as
// the API documents it: list `GET /api/v1/endpoints` and `/apis/discovery.k8s.io/v1/endpointslices`
// (`limit` + `continue` pages, `labelSelector` equality terms, `fieldSelector`
// metadata.namespace= / !=), and watch (`?watch=true&resourceVersion=N`: a chunked stream of
// JSON lines `{"type":"ADDED|MODIFIED|DELETED","object":…}` for every change after N, held
// open until `timeoutSeconds` or `endWatches()`; a version older than the kept history gets
// an `ERROR` event with code 410, as a compacted etcd does). Requests need
// `Authorization: Bearer <token>` (401 otherwise). Not a real API server: the gateway has not
// been tried against one. Every request is recorded.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type http from 'node:http';
import { LocalHttpServer } from './discovery.js';

type Kind = 'endpoints' | 'endpointslices';

interface KubeObject {
  metadata: { name: string; namespace: string; resourceVersion: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

interface Change { version: number; kind: Kind; type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject }

export interface KubeRequest { path: string; query: URLSearchParams; authorization: string | undefined }

const PATHS: Record<string, Kind> = { '/api/v1/endpoints': 'endpoints', '/apis/discovery.k8s.io/v1/endpointslices': 'endpointslices' };

export class FakeKubeApiServer extends LocalHttpServer {
  readonly requests: KubeRequest[] = [];
  token = 'kube-token';
  private version = 100;
  private readonly objects: Record<Kind, Map<string, KubeObject>> = { endpoints: new Map(), endpointslices: new Map() };
  private history: Change[] = [];
  /** Versions at or below this are gone from the history (410 for a watch from them). */
  private compactedTo = 0;
  private readonly watchers = new Set<{ kind: Kind; filter: (o: KubeObject) => boolean; res: http.ServerResponse; timer: NodeJS.Timeout }>();

  /** Creates or replaces an Endpoints object: `subsets` as the API writes them. */
  setEndpoints(namespace: string, name: string, subsets: unknown[], labels?: Record<string, string>): void {
    this.put('endpoints', { metadata: { name, namespace, resourceVersion: '', ...(labels !== undefined ? { labels } : {}) }, subsets });
  }

  setSlice(namespace: string, name: string, service: string, endpoints: unknown[], ports: unknown[]): void {
    this.put('endpointslices', {
      metadata: { name, namespace, resourceVersion: '', labels: { 'kubernetes.io/service-name': service } },
      addressType: 'IPv4', endpoints, ports,
    });
  }

  delete(kind: Kind, namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const old = this.objects[kind].get(key);
    if (old === undefined) return;
    this.objects[kind].delete(key);
    const object = { ...old, metadata: { ...old.metadata, resourceVersion: String(++this.version) } };
    this.record({ version: this.version, kind, type: 'DELETED', object });
  }

  /** Forgets the history: a watch from any version seen so far gets 410 Gone. */
  compact(): void {
    this.compactedTo = this.version;
    this.history = [];
  }

  /** Ends every open watch (as the API server does at timeoutSeconds). */
  endWatches(): void {
    for (const w of [...this.watchers]) this.endWatch(w);
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  protected override stopping(): void {
    for (const w of [...this.watchers]) { clearTimeout(w.timer); this.watchers.delete(w); }
  }

  private put(kind: Kind, object: KubeObject): void {
    const key = `${object.metadata.namespace}/${object.metadata.name}`;
    const type = this.objects[kind].has(key) ? 'MODIFIED' : 'ADDED';
    object.metadata.resourceVersion = String(++this.version);
    this.objects[kind].set(key, object);
    this.record({ version: this.version, kind, type, object });
  }

  private record(change: Change): void {
    this.history.push(change);
    for (const w of this.watchers) {
      if (w.kind === change.kind && w.filter(change.object)) w.res.write(`${JSON.stringify({ type: change.type, object: change.object })}\n`);
    }
  }

  private endWatch(w: { res: http.ServerResponse; timer: NodeJS.Timeout }): void {
    clearTimeout(w.timer);
    this.watchers.delete(w as never);
    w.res.end();
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    this.requests.push({ path: url.pathname, query: q, authorization: req.headers.authorization });
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) return json(401, { kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    const kind = PATHS[url.pathname];
    if (kind === undefined || req.method !== 'GET') return json(404, { kind: 'Status', code: 404 });
    const filter = selectorFilter(q);
    if (q.get('watch') === 'true') {
      const from = Number(q.get('resourceVersion') ?? '0');
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      if (from <= this.compactedTo) {
        res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' } })}\n`);
        return;
      }
      for (const c of this.history) {
        if (c.kind === kind && c.version > from && filter(c.object)) res.write(`${JSON.stringify({ type: c.type, object: c.object })}\n`);
      }
      const w = { kind, filter, res, timer: setTimeout(() => this.endWatch(w), Number(q.get('timeoutSeconds') ?? '1800') * 1000) };
      this.watchers.add(w);
      res.on('close', () => { clearTimeout(w.timer); this.watchers.delete(w); });
      return;
    }
    const all = [...this.objects[kind].values()].filter(filter).sort((a, b) => (a.metadata.namespace + a.metadata.name).localeCompare(b.metadata.namespace + b.metadata.name));
    const start = Number(q.get('continue') ?? '0');
    const limit = Number(q.get('limit') ?? String(all.length));
    const page = all.slice(start, start + limit);
    const next = start + limit < all.length ? String(start + limit) : undefined;
    return json(200, {
      kind: kind === 'endpoints' ? 'EndpointsList' : 'EndpointSliceList', apiVersion: 'v1',
      metadata: { resourceVersion: String(this.version), ...(next !== undefined ? { continue: next } : {}) },
      items: page,
    });
  }
}

/** `labelSelector` (comma-separated `key=value` terms) and `fieldSelector` (`metadata.namespace=` or `!=`). */
function selectorFilter(q: URLSearchParams): (o: KubeObject) => boolean {
  const labels = (q.get('labelSelector') ?? '').split(',').filter((t) => t !== '').map((t) => t.split('=') as [string, string]);
  const field = /^metadata\.namespace(!?=)(.*)$/.exec(q.get('fieldSelector') ?? '');
  return (o) => labels.every(([k, v]) => o.metadata.labels?.[k] === v)
    && (field === null || (field[1] === '=' ? o.metadata.namespace === field[2] : o.metadata.namespace !== field[2]));
}

export async function startFakeKubeApiServer(): Promise<FakeKubeApiServer> {
  const api = new FakeKubeApiServer();
  await api.start();
  return api;
}

/** TLS in front of the fake API server on 127.0.0.1, with a self-signed certificate for that address. */
export interface KubeTlsFront {
  port: number;
  /** The certificate (PEM): the `ca.crt` a client verifies it with. */
  cert: string;
  close(): Promise<void>;
}

/** Terminates TLS and passes the bytes on to `api` (needs the openssl CLI, as test/helpers/certs.ts). */
export async function startKubeTlsFront(api: FakeKubeApiServer): Promise<KubeTlsFront> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-kube-tls-'));
  let pair: { cert: string; key: string };
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=kube-apiserver',
      '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'ignore' });
    pair = { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(pair, (clear) => {
    const back = net.connect(api.port, '127.0.0.1');
    for (const s of [clear, back]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { clear.destroy(); back.destroy(); });
    }
    clear.pipe(back).pipe(clear);
  });
  // a client refusing the certificate ends the handshake: nothing to report
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    cert: pair.cert,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
