// The Admin API listener (APISIX Admin API v3 under /apisix/admin), run by the primary:
// access control, request parsing and routing to the resource handlers. Writes go to
// the store; the primary's store watch carries them to the workers.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { NodeConfig } from '../contracts/node-config.js';
import type { ConfigStore } from '../contracts/store.js';
import { RESOURCE_KINDS, type ResourceKind } from '../contracts/resources.js';
import { logger } from '../core/logger.js';
import { VERSION } from '../core/version.js';
import { RESOURCE_SCHEMAS } from '../config-store/schemas/index.js';
import type { ValidateOptions } from '../config-store/validate.js';
import { closeNow, listenOn, type BoundAddress } from '../core/listen.js';
import { handleStatusRequest, type StatusSource } from './status-server.js';
import { AdminAuth, presentedKey, type AdminKey } from './auth.js';
import { AdminError, toAdminError } from './errors.js';
import { drain, isAcceptedContentType, parseJsonBody, readBody, sendJson } from './http-io.js';
import { isMultipart } from './custom-plugins/multipart.js';
import { isDashboardPath, serveDashboard } from './dashboard.js';
import { ResourceApi, type ResourceDeclaration, type ResourceResponse } from './resource.js';
import { credentials, RESOURCES, secrets } from './resources/index.js';

export const ADMIN_PREFIX = '/apisix/admin';

/** A request routed to a handler registered with `addRoute`. */
export interface AdminRequest {
  method: string;
  /** Decoded path segments after the registered segment. */
  segments: string[];
  query: URLSearchParams;
  body: unknown;
  key: AdminKey;
}

/**
 * `text`, when set, is sent as text/plain instead of `body` as JSON (APISIX's `done` for
 * plugins/reload); `bytes` as a download (a custom plugin's .wasm).
 */
export type AdminRouteResponse = ResourceResponse & { text?: string; bytes?: { data: Buffer; type: string; filename?: string } };

/** A handler that reads the request body itself (multipart uploads, past the JSON body limit). */
export type AdminUploadHandler = (req: IncomingMessage, ctx: Omit<AdminRequest, 'body'>) => Promise<AdminRouteResponse>;

export type AdminRouteHandler = (req: AdminRequest) => Promise<AdminRouteResponse> | AdminRouteResponse;

export interface AdminServerOptions {
  config: Pick<NodeConfig, 'admin'>;
  store: ConfigStore;
  keys: AdminKey[];
  /** Plugin, expr and metadata checks (from the plugin runtime) applied to every write. */
  validate?: ValidateOptions;
  /** When set, `/status` and `/status/ready` are served here too, without a key. */
  status?: StatusSource;
  /** Masks secret plugin fields in what viewer keys read (ResourceApiOptions.redactPlugins). */
  redactPlugins?: (plugins: Record<string, unknown>, schemaType: 'default' | 'consumer' | 'metadata') => Record<string, unknown>;
}

const CORS_HEADERS = {
  'access-control-allow-methods': 'GET, HEAD, PUT, POST, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers': 'X-API-KEY, Content-Type',
  'access-control-max-age': '3600',
};

export class AdminServer {
  private readonly server: http.Server;
  private readonly api: ResourceApi;
  private auth: AdminAuth;
  private readonly routes = new Map<string, AdminRouteHandler>();
  private readonly subresources = new Map<string, AdminRouteHandler>();
  private readonly uploads = new Map<string, AdminUploadHandler>();
  private readonly rawBodyRoutes = new Map<string, AdminUploadHandler>();
  private readonly log = logger().child({ module: 'admin-api' });
  private written = 0;

  constructor(private readonly opts: AdminServerOptions) {
    this.auth = new AdminAuth(opts.keys, opts.config.admin.allow);
    this.api = new ResourceApi(opts.store, {
      ...(opts.validate !== undefined ? { validate: opts.validate } : {}),
      ...(opts.redactPlugins !== undefined ? { redactPlugins: opts.redactPlugins } : {}),
      onWrite: (rev) => { if (rev > this.written) this.written = rev; },
    });
    this.server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 },
      (req, res) => void this.onRequest(req, res));
  }

  /** The highest store revision this API has written (readiness must reach it). */
  get lastWriteRevision(): number {
    return this.written;
  }

  /** Replaces keys and allow list (config reload); the listener stays. */
  updateAccess(keys: AdminKey[], allow: string[]): void {
    this.auth = new AdminAuth(keys, allow);
  }

  /** Serves `/apisix/admin/<segment>/...` with `handler` (resources owned by other modules, e.g. plugins). */
  addRoute(segment: string, handler: AdminRouteHandler): void {
    this.routes.set(segment, handler);
  }

  /**
   * Serves `/apisix/admin/<resource>/<id>/<sub>` with `handler` (segments = [id]), before
   * the resource itself sees the path (e.g. `routes/{id}/plugin-chain`).
   */
  addSubresource(resource: string, sub: string, handler: AdminRouteHandler): void {
    this.subresources.set(`${resource}/${sub}`, handler);
  }

  /** Serves multipart/form-data requests to `/apisix/admin/<segment>/...` with `handler`, which reads the body. */
  addUploadRoute(segment: string, handler: AdminUploadHandler): void {
    this.uploads.set(segment, handler);
  }

  /**
   * Serves `<method> /apisix/admin/<path>` exactly (e.g. POST `custom_plugins/import`) with
   * `handler`, which reads the body itself in whatever content type it accepts (YAML, ...).
   * Other methods on the path go where they went before.
   */
  addRawBodyRoute(method: string, path: string, handler: AdminUploadHandler): void {
    this.rawBodyRoutes.set(`${method} ${path}`, handler);
  }

  listen(): Promise<BoundAddress> {
    return listenOn(this.server, this.opts.config.admin.listen);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('x-api-version', 'v3');
    res.setHeader('server', `Gatehouse/${VERSION}`);
    const method = req.method ?? 'GET';
    try {
      this.auth.checkAddress(req);
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
      if (this.opts.status !== undefined && handleStatusRequest(req, res, this.opts.status)) return;
      if (isDashboardPath(path)) {
        await serveDashboard(req, res, path);
        return;
      }
      if (path !== ADMIN_PREFIX && !path.startsWith(`${ADMIN_PREFIX}/`)) throw new AdminError(404, 'not found');
      if (typeof req.headers.origin === 'string') {
        res.setHeader('access-control-allow-origin', req.headers.origin);
        res.setHeader('vary', 'Origin');
      }
      if (method === 'OPTIONS') {
        req.resume();
        sendJson(res, 200, undefined, CORS_HEADERS);
        return;
      }
      const key = this.auth.authenticate(req, query, method);
      const segments = splitPath(path.slice(ADMIN_PREFIX.length));
      const upload = this.rawBodyRoutes.get(`${method} ${segments.join('/')}`)
        ?? (isMultipart(req.headers) && segments[0] !== undefined ? this.uploads.get(segments[0]) : undefined);
      const out: AdminRouteResponse = upload !== undefined
        ? await upload(req, { method, segments: segments.slice(1), query, key })
        : await this.dispatch(method, segments, query, await this.readJson(req, method, query), key);
      if (out.bytes !== undefined) {
        res.writeHead(out.status, {
          'content-type': out.bytes.type, 'content-length': out.bytes.data.length,
          ...(out.bytes.filename !== undefined ? { 'content-disposition': `attachment; filename="${out.bytes.filename}"` } : {}),
        });
        res.end(method === 'HEAD' ? undefined : out.bytes.data);
      } else if (out.text !== undefined) {
        res.writeHead(out.status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(out.text) });
        res.end(out.text);
      } else sendJson(res, out.status, out.body);
    } catch (err) {
      const e = toAdminError(err);
      if (e.status >= 500) this.log.error({ err, method, url: req.url }, 'admin request failed');
      // A body refused before it was read (401, 413, ...) may still be arriving.
      drain(req);
      sendJson(res, e.status, { error_msg: e.message, ...(e.extra ?? {}) });
    }
  }

  private async readJson(req: IncomingMessage, method: string, query: URLSearchParams): Promise<unknown> {
    const raw = await readBody(req);
    if (raw.length === 0) return undefined;
    const type = req.headers['content-type'];
    if (!isAcceptedContentType(type)) {
      throw new AdminError(415, `unsupported content type ${JSON.stringify(type)}: send the body as application/json`);
    }
    // A key that came only from the cookie must not be usable by another site's form:
    // a cross-site POST can carry the cookie, but not a JSON content type without CORS.
    if (method === 'POST' && req.headers['x-api-key'] === undefined && query.get('api_key') === null
      && presentedKey(req, query) !== undefined && !/json/i.test(type ?? '')) {
      throw new AdminError(415, 'a request authenticated by cookie must send its body as application/json');
    }
    return parseJsonBody(raw);
  }

  private async dispatch(method: string, segments: string[], query: URLSearchParams, body: unknown, key: AdminKey):
    Promise<AdminRouteResponse> {
    const [first, ...rest] = segments;
    if (first === undefined) {
      if (method === 'GET' || method === 'HEAD') return { status: 200, body: { version: VERSION } };
      throw new AdminError(405, `not supported \`${method}\` method`);
    }
    if (first === 'schema') return this.schemaRoute(method, rest, body);
    if (first === 'consumers' && rest.length >= 2 && rest[1] === 'credentials') {
      const [parent, , id, ...subPath] = rest;
      return this.api.handle(credentials, { method, parent: parent!, query, body, viewer: key.role === 'viewer', ...idAndSub(id, subPath) });
    }
    if (first === 'secrets' && rest.length >= 1) {
      const [manager, id, ...subPath] = rest;
      return this.api.handle(secrets, { method, parent: manager!, query, body, ...idAndSub(id, subPath) });
    }
    const sub = rest.length === 2 ? this.subresources.get(`${first}/${rest[1]!}`) : undefined;
    if (sub !== undefined) return sub({ method, segments: [rest[0]!], query, body, key });
    const decl = first === 'secrets' ? secrets : RESOURCES[first];
    if (decl !== undefined) {
      const [id, ...subPath] = rest;
      return this.api.handle(decl, { method, query, body, viewer: key.role === 'viewer', ...idAndSub(id, subPath) });
    }
    const extra = this.routes.get(first);
    if (extra !== undefined) return extra({ method, segments: rest, query, body, key });
    throw new AdminError(404, `Unsupported resource type: ${first}`);
  }

  /** `GET /schema/<kind>` (the JSON schema) and `POST /schema/validate/<kind>` (a dry run). */
  private async schemaRoute(method: string, rest: string[], body: unknown): Promise<ResourceResponse> {
    if (rest[0] === 'validate' && rest.length === 2) {
      if (method !== 'POST') throw new AdminError(405, `not supported \`${method}\` method for schema validation`);
      await this.api.dryRun(declarationOf(rest[1]!), body);
      return { status: 200, body: undefined };
    }
    if (rest.length === 1 && (method === 'GET' || method === 'HEAD')) {
      const kind = rest[0] as ResourceKind;
      if (!RESOURCE_KINDS.includes(kind)) throw new AdminError(404, `Unsupported resource type: ${rest[0]!}`);
      return { status: 200, body: RESOURCE_SCHEMAS[kind] };
    }
    throw new AdminError(404, 'not found');
  }
}

function declarationOf(name: string): ResourceDeclaration {
  if (name === 'credentials') return credentials;
  if (name === 'secrets') return secrets;
  const decl = RESOURCES[name];
  if (decl === undefined) throw new AdminError(400, `invalid resource type: ${name}`);
  return decl;
}

function idAndSub(id: string | undefined, subPath: string[]): { id?: string; subPath?: string[] } {
  return id === undefined ? {} : { id, subPath };
}

/**
 * `/routes/1/` → ['routes', '1']. Segments are percent-decoded after splitting, so an
 * encoded `%2F` stays inside its segment (and fails the id check) instead of adding one.
 */
function splitPath(rest: string): string[] {
  const raw = rest.split('/').slice(1);
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  return raw.map((s) => {
    if (s === '') throw new AdminError(400, 'invalid request path: empty segment');
    try {
      return decodeURIComponent(s);
    } catch {
      throw new AdminError(400, `invalid request path: bad percent-encoding in ${JSON.stringify(s)}`);
    }
  });
}
