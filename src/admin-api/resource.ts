// Generic CRUD over one resource kind, as APISIX's Admin API v3 does it. Each kind is a
// declaration (resources/<kind>.ts); this file holds the verbs, id rules, timestamps,
// validation, reference checks and compare-and-swap writes they share.
import type { ResourceKind } from '../contracts/resources.js';
import type { ConfigStore, StoredObject } from '../contracts/store.js';
import { isGatehouseError } from '../core/errors.js';
import { credentialKey } from '../config-store/state.js';
import { validateResource, type ValidateOptions } from '../config-store/validate.js';
import { envelope, keyOf, listEnvelope, parseListQuery } from './envelope.js';
import { AdminError, badRequest, keyNotFound } from './errors.js';
import { checkPathId, IdGenerator } from './ids.js';
import { mergePatch, patchSubPath } from './patch.js';
import { referenceProblem } from './references.js';
import { disabledBindingProblem } from './custom-plugins/bindings.js';
import { REDACTED } from '../plugin-runtime/secret-fields.js';

type Obj = Record<string, unknown>;

/** What a declaration's extra checks can see. */
export interface WriteContext {
  store: ConfigStore;
  /** The object's store id (credentials: `<username>/<id>`). */
  storeId: string;
  /** `?force=true` was given. */
  force: boolean;
}

export interface ResourceDeclaration {
  kind: ResourceKind;
  /** The word in APISIX's messages: `missing route id`, `not supported \`POST\` method for route`. */
  label: string;
  post: boolean;
  patch: boolean;
  /** Consumers are keyed by `username` and may be PUT on the collection. */
  idField?: 'username';
  /** Message for a write without id (default `missing <label> id`). */
  missingId?: string;
  /** Longest accepted id (default 64, as APISIX's id schema). */
  idMaxLength?: number;
  /** Server-set create_time/update_time (default true). */
  timestamps?: boolean;
  /** Checks beyond the schema, on the normalised value; throw AdminError. */
  check?(value: Obj, ctx: WriteContext): Promise<void> | void;
  /** Why the object cannot be deleted (still referenced), or undefined. */
  inUse?(store: ConfigStore, id: string): Promise<string | undefined>;
  /** The value as clients see it (ssls hide private keys). */
  present?(value: Obj): Obj;
  /** Objects deleted together with this one (a consumer's credentials), deleted first. */
  dependents?(store: ConfigStore, id: string): Promise<StoredObject[]>;
}

export interface ResourceRequest {
  method: string;
  /** The path id, percent-decoded, not yet checked. */
  id?: string;
  /** Segments after the id (PATCH /routes/1/upstream/nodes). */
  subPath?: string[];
  /** Credentials: the consumer's username from the path. */
  parent?: string;
  query: URLSearchParams;
  /** The parsed JSON body; undefined when there was none. */
  body: unknown;
  /** The caller has the viewer role: secret plugin fields are masked in what it reads. */
  viewer?: boolean;
}

export interface ResourceResponse {
  status: number;
  body: unknown;
}

export interface ResourceApiOptions {
  validate?: ValidateOptions;
  /** Told the store revision of every acknowledged write (readiness compares workers to it). */
  onWrite?: (revision: number) => void;
  now?: () => number;
  /**
   * Masks the secret fields of a plugin set for viewers (see plugin-runtime/secret-fields.ts).
   * Without it a viewer sees each plugin of a consumer or credential masked whole.
   */
  redactPlugins?: (plugins: Obj, schemaType: 'default' | 'consumer' | 'metadata') => Obj;
}

// Compare-and-swap retries before answering 409; conflicts only come from writers in
// other processes, since this process serialises its own writes.
const CAS_ATTEMPTS = 5;

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

export class ResourceApi {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly ids = new IdGenerator();
  private readonly now: () => number;

  constructor(private readonly store: ConfigStore, private readonly opts: ResourceApiOptions = {}) {
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  }

  async handle(decl: ResourceDeclaration, req: ResourceRequest): Promise<ResourceResponse> {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const unsupported = (): AdminError => new AdminError(405, `not supported \`${req.method}\` method for ${decl.label}`);
    if (req.parent !== undefined) {
      if (decl.kind === 'secrets') checkSecretManagerPath(req.parent);
      else checkPathId(req.parent, 'consumer', { username: true });
    }
    if (decl.kind === 'secrets' && req.parent === undefined && method !== 'GET') throw badRequest('missing secret manager: use /secrets/<manager>/<id>');
    if (this.store.readOnly && method !== 'GET' && (method !== 'POST' || decl.post)) {
      throw new AdminError(405, `the configuration is read-only with store.type ${this.store.type}: `
        + 'change the configuration file instead');
    }
    if (req.subPath !== undefined && req.subPath.length > 0) {
      if (method !== 'PATCH') throw badRequest(`invalid ${decl.label} id ${JSON.stringify([req.id, ...req.subPath].join('/'))}`);
      if (req.subPath.includes('__proto__')) throw badRequest(`invalid sub-path: /${req.subPath.join('/')}`);
    }
    if (req.id === undefined) {
      switch (method) {
        case 'GET': return this.list(decl, req);
        case 'POST':
          if (!decl.post) throw unsupported();
          return this.serial(() => this.create(decl, req));
        case 'PUT':
          if (decl.idField === 'username') return this.serial(() => this.put(decl, req, usernameOf(req.body)));
          throw badRequest(decl.missingId ?? `missing ${decl.label} id`);
        case 'PATCH':
          if (!decl.patch) throw unsupported();
          throw badRequest(decl.missingId ?? `missing ${decl.label} id`);
        case 'DELETE': throw badRequest(decl.missingId ?? `missing ${decl.label} id`);
        default: throw unsupported();
      }
    }
    checkPathId(req.id, decl.label, { username: decl.idField === 'username', max: decl.idMaxLength });
    switch (method) {
      case 'GET': return this.getOne(decl, req, req.id);
      case 'PUT': return this.serial(() => this.put(decl, req, req.id!));
      case 'POST':
        if (!decl.post) throw unsupported();
        throw badRequest(`wrong ${decl.label} id, do not need it`);
      case 'PATCH':
        if (!decl.patch) throw unsupported();
        return this.serial(() => this.patch(decl, req, req.id!));
      case 'DELETE': return this.serial(() => this.remove(decl, req, req.id!));
      default: throw unsupported();
    }
  }

  /** Checks a body as a write would, without storing it (`/schema/validate/<kind>`). */
  async dryRun(decl: ResourceDeclaration, body: unknown): Promise<void> {
    if (body === undefined) throw badRequest('missing configurations');
    if (!isObject(body)) throw badRequest(`invalid configuration: wrong type: expected object, got ${typeName(body)}`);
    const value = { ...body };
    // the id comes from the path on a real write; some schemas require it
    if (value.id === undefined && ['global_rules', 'plugin_configs', 'consumer_groups'].includes(decl.kind)) {
      value.id = 'validate';
    }
    const normalised = validateResource(decl.kind, value, this.opts.validate);
    await decl.check?.(normalised, { store: this.store, storeId: String(value.id ?? value.username), force: false });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private storeId(decl: ResourceDeclaration, req: ResourceRequest, id: string): string {
    if (decl.kind === 'secrets') return `${req.parent!}/${id}`;
    return decl.kind === 'credentials' ? credentialKey(req.parent!, id) : id;
  }

  private async requireParent(decl: ResourceDeclaration, req: ResourceRequest): Promise<void> {
    if (decl.kind === 'credentials' && (await this.store.get('consumers', req.parent!)) === undefined) {
      throw new AdminError(404, 'consumer not found');
    }
  }

  private present(decl: ResourceDeclaration, req: ResourceRequest): (v: Obj) => Obj {
    const own = decl.present ?? ((v: Obj) => v);
    if (req.viewer !== true) return own;
    const schemaType = decl.kind === 'consumers' || decl.kind === 'credentials' ? 'consumer' : decl.kind === 'plugin_metadata' ? 'metadata' : 'default';
    const redact = this.opts.redactPlugins
      ?? ((plugins: Obj) => (schemaType !== 'default' ? Object.fromEntries(Object.keys(plugins).map((k) => [k, REDACTED])) : plugins));
    // a plugin's metadata is that plugin's config (a collector's auth headers…): masked by its metadata schema
    if (schemaType === 'metadata') {
      return (v) => {
        const shown = own(v);
        const id = String(shown.id);
        const masked = redact({ [id]: shown }, schemaType)[id];
        return isObject(masked) ? masked : { id: shown.id, value: REDACTED };
      };
    }
    return (v) => {
      const shown = own(v);
      return isObject(shown.plugins) ? { ...shown, plugins: redact(shown.plugins, schemaType) } : shown;
    };
  }

  private async list(decl: ResourceDeclaration, req: ResourceRequest): Promise<ResourceResponse> {
    const query = parseListQuery(req.query);
    await this.requireParent(decl, req);
    let objects = await this.store.list(decl.kind);
    if (decl.kind === 'credentials' || (decl.kind === 'secrets' && req.parent !== undefined)) {
      objects = objects.filter((o) => o.id.startsWith(`${req.parent!}/`));
    }
    return { status: 200, body: listEnvelope(objects, query, this.present(decl, req)) };
  }

  private async getOne(decl: ResourceDeclaration, req: ResourceRequest, id: string): Promise<ResourceResponse> {
    await this.requireParent(decl, req);
    const obj = await this.store.get(decl.kind, this.storeId(decl, req, id));
    if (obj === undefined) throw keyNotFound();
    return { status: 200, body: envelope(obj, this.present(decl, req)) };
  }

  /** The body of a PUT or POST: an object without server-owned fields. */
  private writeBody(req: ResourceRequest): Obj {
    const body = req.body;
    if (body === undefined) throw badRequest('missing configurations');
    if (!isObject(body)) throw badRequest(`invalid configuration: wrong type: expected object, got ${typeName(body)}`);
    for (const p of ['create_time', 'update_time']) {
      // APISIX's text, double space included
      if (body[p] !== undefined) throw badRequest(`the property is forbidden:  ${p}`);
    }
    return { ...body };
  }

  private async put(decl: ResourceDeclaration, req: ResourceRequest, id: string): Promise<ResourceResponse> {
    const conf = this.writeBody(req);
    this.claimId(decl, req, conf, id);
    await this.requireParent(decl, req);
    const storeId = this.storeId(decl, req, id);
    return this.casWrite(decl, req, storeId, async (existing) => {
      const value = { ...conf };
      if (decl.timestamps !== false) {
        const now = this.now();
        value.create_time = (existing?.value.create_time as number | undefined) ?? now;
        value.update_time = now;
      }
      return value;
    }, 'put');
  }

  private async create(decl: ResourceDeclaration, req: ResourceRequest): Promise<ResourceResponse> {
    const conf = this.writeBody(req);
    if (conf.id !== undefined) throw badRequest(`wrong ${decl.label} id, do not need it`);
    for (let attempt = 0; ; attempt++) {
      const id = this.ids.next();
      const value: Obj = { id, ...conf };
      if (decl.timestamps !== false) value.create_time = value.update_time = this.now();
      try {
        const stored = await this.write(decl, req, id, value, 0);
        return { status: 201, body: envelope(stored, this.present(decl, req)) };
      } catch (e) {
        if (!isGatehouseError(e, 'GH_ERR_STORE_CONFLICT') || attempt + 1 >= CAS_ATTEMPTS) throw e;
      }
    }
  }

  private async patch(decl: ResourceDeclaration, req: ResourceRequest, id: string): Promise<ResourceResponse> {
    const sub = req.subPath ?? [];
    const body = req.body;
    if (body === undefined) throw badRequest('missing configurations');
    if (sub.length === 0 && !isObject(body)) {
      throw badRequest(`invalid configuration: wrong type: expected object, got ${typeName(body)}`);
    }
    const storeId = this.storeId(decl, req, id);
    return this.casWrite(decl, req, storeId, async (existing) => {
      if (existing === undefined) throw keyNotFound();
      const merged = sub.length === 0 ? mergePatch(existing.value, body as Obj) : patchSubPath(existing.value, sub, body);
      const idField = decl.idField ?? 'id';
      const expectedId = decl.kind === 'secrets' ? storeId : id;
      if (merged[idField] === undefined || String(merged[idField]) !== expectedId) {
        throw badRequest(decl.idField === 'username' ? 'wrong username' : `wrong ${decl.label} id`);
      }
      merged[idField] = expectedId;
      if (decl.timestamps !== false) {
        const givesUpdateTime = sub.length === 0 ? (body as Obj).update_time !== undefined : sub[0] === 'update_time';
        if (!givesUpdateTime) merged.update_time = this.now();
        if (merged.create_time === undefined) merged.create_time = this.now();
      }
      return merged;
    }, 'patch');
  }

  private async remove(decl: ResourceDeclaration, req: ResourceRequest, id: string): Promise<ResourceResponse> {
    const storeId = this.storeId(decl, req, id);
    const force = req.query.get('force') === 'true';
    for (let attempt = 0; ; attempt++) {
      const existing = await this.store.get(decl.kind, storeId);
      if (existing === undefined) throw keyNotFound();
      if (!force && decl.inUse !== undefined) {
        const why = await decl.inUse(this.store, storeId);
        if (why !== undefined) throw badRequest(why);
      }
      // Dependents go first: a crash in between leaves no object pointing at a missing one.
      for (const dep of (await decl.dependents?.(this.store, storeId)) ?? []) {
        await this.store.delete(dep.kind, dep.id);
      }
      try {
        await this.store.delete(decl.kind, storeId, { expectedRevision: existing.modifiedIndex });
        return { status: 200, body: { key: keyOf(decl.kind, storeId), deleted: '1' } };
      } catch (e) {
        if (!isGatehouseError(e, 'GH_ERR_STORE_CONFLICT') || attempt + 1 >= CAS_ATTEMPTS) throw e;
      }
    }
  }

  /** Sets the id field of a PUT body from the path, refusing a different one in the body. */
  private claimId(decl: ResourceDeclaration, req: ResourceRequest, conf: Obj, id: string): void {
    if (decl.idField === 'username') {
      if (conf.username !== undefined && conf.username !== id) throw badRequest('wrong username');
      conf.username = id;
      return;
    }
    if (decl.kind === 'secrets') {
      const storeId = `${req.parent!}/${id}`;
      if (conf.id !== undefined && String(conf.id) !== id && String(conf.id) !== storeId) throw badRequest('wrong secret id');
      conf.id = storeId;
      return;
    }
    if (conf.id !== undefined) {
      const given = String(conf.id);
      // credentials may carry APISIX's etcd-key form `<username>/credentials/<id>`
      const alt = decl.kind === 'credentials' ? `${req.parent!}/credentials/${id}` : undefined;
      if (given !== id && given !== alt) throw badRequest(`wrong ${decl.label} id`);
    }
    conf.id = id;
  }

  /**
   * Read, build, validate, write with compare-and-swap on the read revision; a conflict
   * (another process wrote in between) starts over from a fresh read.
   */
  private async casWrite(decl: ResourceDeclaration, req: ResourceRequest, storeId: string,
    build: (existing: StoredObject | undefined) => Promise<Obj>, verb: 'put' | 'patch'): Promise<ResourceResponse> {
    for (let attempt = 0; ; attempt++) {
      const existing = await this.store.get(decl.kind, storeId);
      const value = await build(existing);
      try {
        const stored = await this.write(decl, req, storeId, value, existing?.modifiedIndex ?? 0, existing?.value);
        const status = verb === 'put' && existing === undefined ? 201 : 200;
        return { status, body: envelope(stored, this.present(decl, req)) };
      } catch (e) {
        if (!isGatehouseError(e, 'GH_ERR_STORE_CONFLICT') || attempt + 1 >= CAS_ATTEMPTS) throw e;
      }
    }
  }

  private async write(decl: ResourceDeclaration, req: ResourceRequest, storeId: string, value: Obj,
    expectedRevision: number, previous?: Obj): Promise<StoredObject> {
    // before the plugin checks, which would only say "unknown plugin" of a disabled custom one
    const disabled = await disabledBindingProblem(this.store, decl.kind, value, previous);
    if (disabled !== undefined) throw badRequest(disabled);
    const normalised = validateResource(decl.kind, value, this.opts.validate) as Obj;
    await decl.check?.(normalised, { store: this.store, storeId, force: req.query.get('force') === 'true' });
    const problem = await referenceProblem(this.store, decl.kind, storeId, normalised);
    if (problem !== undefined) throw badRequest(problem);
    const stored = await this.store.put(decl.kind, storeId, normalised, { expectedRevision });
    this.opts.onWrite?.(stored.modifiedIndex);
    return stored;
  }
}

/** `/secrets/<manager>/...`: the manager segment is checked by the schema's id rule; this only keeps it a plain name. */
function checkSecretManagerPath(manager: string): void {
  if (!/^[a-z0-9_-]{1,32}$/.test(manager)) throw badRequest(`invalid secret manager: ${manager}`);
}

/** The id of `PUT /consumers`: the body's username (the schema reports a missing or bad one). */
function usernameOf(body: unknown): string {
  if (isObject(body) && typeof body.username === 'string') return body.username;
  if (body === undefined) throw badRequest('missing configurations');
  validateResource('consumers', body);
  throw badRequest('invalid configuration: property "username" is required');
}
