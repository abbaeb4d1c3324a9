// `/apisix/admin/custom_plugins`: the plugin marketplace (issue 11 §4, DESIGN §7).
//
//   PUT  /custom_plugins/{id}               multipart publish form: create, or publish a new version
//   POST /custom_plugins                    the same, the id in the form's `id` field
//   GET  /custom_plugins                    {total, list} (page, page_size)
//   GET  /custom_plugins/{id}               the envelope plus `bound_to`
//   GET  /custom_plugins/{id}/versions/{v}/wasm   the binary (application/wasm)
//   PATCH /custom_plugins/{id}              JSON: {"enabled"}, {"version"} any time; other fields while disabled
//   DELETE /custom_plugins/{id}[?force=true]       while disabled (and, without force, bound nowhere)
//   DELETE /custom_plugins/{id}/versions/{v}       a version that is not serving, while disabled
//
// Binaries are blobs keyed by sha256; one that no version names any more is deleted with
// the last version naming it. Writes run one at a time, so a blob put for a publish in
// flight is never collected before its object is written.
import { createHash } from 'node:crypto';
import type { CustomPlugin } from '../../contracts/custom-plugins.js';
import type { BlobStore, ConfigStore, StoredObject } from '../../contracts/store.js';
import { VERSION } from '../../core/version.js';
import { validateResource } from '../../config-store/validate.js';
import { checkModule } from '../../wasm-host/module-check.js';
import { WasmLoadError } from '../../wasm-host/faults.js';
import { envelope, keyOf, listEnvelope, parseListQuery } from '../envelope.js';
import { AdminError, badRequest } from '../errors.js';
import { checkPathId } from '../ids.js';
import type { AdminRouteHandler, AdminRouteResponse, AdminUploadHandler } from '../server.js';
import { boundTo, describeBindings } from './bindings.js';
import { checkGatewayVersion, parsePublishFields, PATCH_FIELDS, PATCH_WHILE_ENABLED, type PublishForm } from './form.js';
import { readMultipartForm, type MultipartForm } from './multipart.js';
import { MAX_WASM_BYTES, WASM_TOO_LARGE } from './limits.js';

type Obj = Record<string, unknown>;

export { MAX_WASM_BYTES, WASM_TOO_LARGE };

export interface CustomPluginsDeps {
  store: ConfigStore;
  /** Whether a name belongs to a plugin of the registry that is not a custom plugin (key-auth, a plugin_dirs module). */
  isBuiltIn(name: string): boolean;
  /** Limits the publish-time check runs the module with (default 500 ms per guest call, 256 MiB). */
  checkLimits?: { callTimeoutMs: number; memoryLimitBytes: number };
  gatewayVersion?: string;
  now?: () => number;
}

const DEFAULT_LIMITS = { callTimeoutMs: 500, memoryLimitBytes: 256 * 1024 * 1024 };
const LABEL = 'custom plugin';

const readOnlyError = (store: ConfigStore): AdminError => new AdminError(405,
  `the configuration is read-only with store.type ${store.type}: change the configuration file instead`);

export class CustomPluginsApi {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;
  private readonly limits: { callTimeoutMs: number; memoryLimitBytes: number };
  private readonly gatewayVersion: string;

  constructor(private readonly deps: CustomPluginsDeps) {
    this.now = deps.now ?? (() => Math.floor(Date.now() / 1000));
    this.limits = deps.checkLimits ?? DEFAULT_LIMITS;
    this.gatewayVersion = deps.gatewayVersion ?? VERSION;
  }

  /** JSON requests (everything but the multipart publish). */
  readonly handle: AdminRouteHandler = async (req) => {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const [id, ...sub] = req.segments;
    if (id === undefined) {
      if (method === 'GET') return this.list(req.query);
      if (method === 'PUT' || method === 'POST') throw badRequest('missing field file: publish with multipart/form-data (the .wasm in the file part)');
      if (method === 'PATCH' || method === 'DELETE') throw badRequest('missing custom plugin id');
      throw notSupported(req.method);
    }
    checkPathId(id, LABEL);
    if (sub.length === 0) {
      switch (method) {
        case 'GET': return this.show(id);
        case 'PUT': throw badRequest('missing field file: publish with multipart/form-data (the .wasm in the file part)');
        case 'PATCH': return this.serial(() => this.patch(id, req.body));
        case 'DELETE': return this.serial(() => this.remove(id, req.query.get('force') === 'true'));
        default: throw notSupported(req.method);
      }
    }
    if (sub[0] === 'versions' && sub.length >= 2) {
      const version = sub[1]!;
      if (sub.length === 3 && sub[2] === 'wasm' && method === 'GET') return this.download(id, version);
      if (sub.length === 2 && method === 'DELETE') return this.serial(() => this.removeVersion(id, version));
      if (sub.length <= 3) throw notSupported(req.method);
    }
    throw new AdminError(404, 'not found');
  };

  /** Multipart requests: the publish form. */
  readonly upload: AdminUploadHandler = async (req, ctx) => {
    const [pathId, ...sub] = ctx.segments;
    if (ctx.method !== 'PUT' && ctx.method !== 'POST') throw notSupported(ctx.method);
    if (sub.length > 0) throw new AdminError(404, 'not found');
    if (ctx.method === 'POST' && pathId !== undefined) throw badRequest('wrong custom plugin id, do not need it: POST to /custom_plugins with the id field');
    if (ctx.method === 'PUT' && pathId === undefined) throw badRequest('missing custom plugin id');
    if (pathId !== undefined) checkPathId(pathId, LABEL);
    if (this.deps.store.readOnly || this.deps.store.blobs === undefined) throw readOnlyError(this.deps.store);
    const form = await readMultipartForm(req, req.headers, { maxFileBytes: MAX_WASM_BYTES, tooLargeMessage: WASM_TOO_LARGE, fileField: 'file' });
    return this.serial(() => this.publish(pathId, form));
  };

  /** Runs `fn` after every write before it (writes to custom plugins run one at a time). */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async list(query: URLSearchParams): Promise<AdminRouteResponse> {
    const q = parseListQuery(query);
    return { status: 200, body: listEnvelope(await this.deps.store.list('custom_plugins'), q) };
  }

  private async show(id: string): Promise<AdminRouteResponse> {
    const obj = await this.existing(id, 'read');
    return { status: 200, body: { ...envelope(obj), bound_to: await boundTo(this.deps.store, id) } };
  }

  private async download(id: string, version: string): Promise<AdminRouteResponse> {
    const obj = await this.existing(id, 'read');
    const v = versionOf(obj, version);
    const data = await this.deps.store.blobs?.getBlob(v.sha256);
    if (data === undefined) throw new AdminError(500, `the binary of ${LABEL} ${id} version ${version} (sha256 ${v.sha256}) is missing from the store`);
    return { status: 200, body: undefined, bytes: { data, type: 'application/wasm', filename: `${id}-${version}.wasm` } };
  }

  /** The stored plugin; 403 for a built-in's name on writes, 404 when there is none. */
  private async existing(id: string, purpose: 'read' | 'write'): Promise<StoredObject> {
    const obj = await this.deps.store.get('custom_plugins', id);
    if (obj !== undefined) return obj;
    if (this.deps.isBuiltIn(id)) {
      if (purpose === 'write') throw builtInError(id);
      throw new AdminError(404, `${LABEL} ${id} not found: ${id} is a built-in plugin (see /apisix/admin/plugins/list)`);
    }
    throw new AdminError(404, `${LABEL} ${id} not found`);
  }

  private blobs(): BlobStore {
    const { store } = this.deps;
    if (store.readOnly || store.blobs === undefined) throw readOnlyError(store);
    return store.blobs;
  }

  private async publish(pathId: string | undefined, multipart: MultipartForm): Promise<AdminRouteResponse> {
    const form = parsePublishFields(multipart.fields);
    const id = pathId ?? form.id;
    if (id === undefined) throw badRequest('missing custom plugin id: send the id field');
    if (pathId !== undefined && form.id !== undefined && form.id !== pathId) throw badRequest('wrong custom plugin id');
    checkPathId(id, LABEL);
    const file = multipart.file;
    if (file === undefined || file.bytes.length === 0) throw badRequest('missing field file: the .wasm binary of the plugin');
    if (file.filename !== '' && !/\.wasm$/i.test(file.filename)) {
      throw badRequest(`invalid field file: the file name must end with .wasm, got ${JSON.stringify(file.filename)}`);
    }
    const { status, stored } = await this.publishBinary(id, form, file.bytes);
    return { status, body: envelope(stored) };
  }

  /**
   * Publishes `bytes` as a new version of `id` (or creates it) with the form's fields: the
   * checks and refusals of the publish form. Call inside serial().
   */
  async publishBinary(id: string, form: PublishForm, bytes: Buffer): Promise<{ status: 200 | 201; stored: StoredObject }> {
    if (bytes.length > MAX_WASM_BYTES) throw new AdminError(413, WASM_TOO_LARGE);
    const file = { bytes };
    const blobs = this.blobs();
    const existing = await this.deps.store.get('custom_plugins', id);
    if (existing === undefined && this.deps.isBuiltIn(id)) throw builtInError(id);
    if (existing?.value.enabled === true) throw enabledError(id);
    const value = this.publishedValue(id, form, existing, file.bytes);
    checkGatewayVersion(id, value, this.gatewayVersion);
    const report = await this.checkBinary(file.bytes, id, value.root_id as string, form.configuration);
    const versions = value.versions as Obj[];
    versions[versions.length - 1]!.abi = report.abi;
    await blobs.putBlob(file.bytes);
    const stored = await this.store(id, value, existing);
    return { status: existing === undefined ? 201 : 200, stored };
  }

  /**
   * Replaces the plugin-level fields of `id` (not its versions): the refusals of PATCH
   * (409 while enabled, 403 for a built-in). Call inside serial().
   */
  async updateFields(id: string, fields: Obj): Promise<StoredObject> {
    const existing = await this.existing(id, 'write');
    if (existing.value.enabled === true) throw enabledError(id, Object.keys(fields));
    const value = validateResource('custom_plugins', { ...existing.value, ...fields, update_time: this.now() }) as Obj;
    return this.deps.store.put('custom_plugins', id, value, { expectedRevision: existing.modifiedIndex });
  }

  /** Whether `id` names a plugin of the registry that is not a custom plugin. */
  isBuiltIn(id: string): boolean {
    return this.deps.isBuiltIn(id);
  }

  /** The plugin after publishing `form`: the stored fields, overridden by the given ones, plus the new version. */
  private publishedValue(id: string, form: PublishForm, existing: StoredObject | undefined, bytes: Buffer): Obj {
    const base = (existing?.value ?? {}) as Partial<CustomPlugin> & Obj;
    const known = new Set((base.versions ?? []).map((v) => v.version));
    if (existing !== undefined && form.version === undefined) {
      throw badRequest(`missing field version: ${LABEL} ${id} exists, a new binary needs a new version (has ${[...known].join(', ')})`);
    }
    const version = form.version ?? '1.0.0';
    if (known.has(version)) throw new AdminError(409, `${LABEL} ${id} already has version ${version}: publish the binary under a new version`);
    if (existing === undefined) {
      if (form.fields.stage === undefined) throw badRequest('missing field stage: authorization, authentication, statistics or default');
      if (form.fields.priority === undefined) throw badRequest('missing field priority: an integer, larger runs first within the stage');
    }
    const now = this.now();
    const entry: Obj = {
      version, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, abi: 'unchecked', created_at: now,
      ...(form.versionDescription !== undefined ? { version_description: form.versionDescription } : {}),
    };
    const value: Obj = {
      name: id, root_id: id, gateway_version: 'any', fail_strategy: 'FAIL_CLOSE', enabled: true,
      ...base, ...form.fields,
      id, version, versions: [...(base.versions ?? []), entry],
      create_time: base.create_time ?? now, update_time: now,
    };
    return validateResource('custom_plugins', value) as Obj;
  }

  private async checkBinary(bytes: Uint8Array, id: string, rootId: string, configuration: Buffer): Promise<{ abi: string }> {
    try {
      return await checkModule(bytes, { rootId, configuration, pluginName: id, ...this.limits });
    } catch (err) {
      if (err instanceof WasmLoadError) throw badRequest(`invalid wasm plugin: ${err.message}`);
      throw err;
    }
  }

  /** Writes with compare-and-swap on what was read; a failed write leaves no blob behind. */
  private async store(id: string, value: Obj, existing: StoredObject | undefined): Promise<StoredObject> {
    try {
      return await this.deps.store.put('custom_plugins', id, value, { expectedRevision: existing?.modifiedIndex ?? 0 });
    } catch (err) {
      await this.collectBlobs();
      throw err;
    }
  }

  private async patch(id: string, body: unknown): Promise<AdminRouteResponse> {
    if (body === undefined) throw badRequest('missing configurations');
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('invalid configuration: expected a JSON object');
    const changes = body as Obj;
    for (const k of Object.keys(changes)) {
      if (k === 'id') {
        if (String(changes.id) !== id) throw badRequest('wrong custom plugin id');
      } else if (k === 'versions' || k === 'create_time' || k === 'update_time') {
        throw badRequest(`field ${k} cannot be changed: versions are added by publishing (PUT multipart) and removed with DELETE .../versions/{version}`);
      } else if (!(PATCH_FIELDS as readonly string[]).includes(k)) {
        throw badRequest(`unknown field ${k} (PATCH takes ${PATCH_FIELDS.join(', ')})`);
      }
    }
    if (this.deps.store.readOnly) throw readOnlyError(this.deps.store);
    const existing = await this.existing(id, 'write');
    const was = existing.value as unknown as CustomPlugin;
    const edits = Object.keys(changes).filter((k) => !PATCH_WHILE_ENABLED.has(k));
    if (was.enabled && edits.length > 0) throw enabledError(id, edits);
    if (changes.version !== undefined) versionOf(existing, String(changes.version), 400);
    const merged: Obj = { ...existing.value, update_time: this.now() };
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    const value = validateResource('custom_plugins', merged) as Obj;
    checkGatewayVersion(id, value, this.gatewayVersion);
    if (value.version !== was.version || value.root_id !== was.root_id) {
      const v = versionOf(existing, value.version as string);
      const bytes = await this.blobs().getBlob(v.sha256);
      if (bytes === undefined) throw new AdminError(500, `the binary of ${LABEL} ${id} version ${v.version} is missing from the store`);
      await this.checkBinary(bytes, id, value.root_id as string, Buffer.from('{}'));
    }
    const stored = await this.deps.store.put('custom_plugins', id, value, { expectedRevision: existing.modifiedIndex });
    return { status: 200, body: envelope(stored) };
  }

  private async remove(id: string, force: boolean): Promise<AdminRouteResponse> {
    if (this.deps.store.readOnly) throw readOnlyError(this.deps.store);
    const existing = await this.existing(id, 'write');
    if (existing.value.enabled === true) throw enabledError(id);
    const where = describeBindings(await boundTo(this.deps.store, id));
    if (where !== undefined && !force) {
      throw new AdminError(409, `can not delete ${LABEL} ${id}, ${where} still use it: remove it there first, or delete with ?force=true`);
    }
    await this.deps.store.delete('custom_plugins', id, { expectedRevision: existing.modifiedIndex });
    await this.collectBlobs();
    return { status: 200, body: { key: keyOf('custom_plugins', id), deleted: '1' } };
  }

  private async removeVersion(id: string, version: string): Promise<AdminRouteResponse> {
    if (this.deps.store.readOnly) throw readOnlyError(this.deps.store);
    const existing = await this.existing(id, 'write');
    const plugin = existing.value as unknown as CustomPlugin;
    versionOf(existing, version);
    if (plugin.enabled) throw enabledError(id);
    if (plugin.version === version) throw new AdminError(409, `version ${version} of ${LABEL} ${id} is the current one: switch to another version first (PATCH {"version": ...})`);
    const value = { ...existing.value, versions: plugin.versions.filter((v) => v.version !== version), update_time: this.now() };
    const stored = await this.deps.store.put('custom_plugins', id, validateResource('custom_plugins', value) as Obj,
      { expectedRevision: existing.modifiedIndex });
    await this.collectBlobs();
    return { status: 200, body: envelope(stored) };
  }

  /** Deletes the blobs no version of any custom plugin names. */
  private async collectBlobs(): Promise<void> {
    const blobs = this.deps.store.blobs;
    if (blobs === undefined) return;
    const referenced = new Set<string>();
    for (const o of await this.deps.store.list('custom_plugins')) {
      for (const v of (o.value as unknown as CustomPlugin).versions ?? []) referenced.add(v.sha256);
    }
    await blobs.keepOnly(referenced);
  }
}

function versionOf(obj: StoredObject, version: string, status = 404): CustomPlugin['versions'][number] {
  const plugin = obj.value as unknown as CustomPlugin;
  const v = plugin.versions.find((x) => x.version === version);
  if (v === undefined) {
    throw new AdminError(status, `${LABEL} ${plugin.id} has no version ${version} (published: ${plugin.versions.map((x) => x.version).join(', ')})`);
  }
  return v;
}

function builtInError(id: string): AdminError {
  return new AdminError(403, `${id} is a built-in plugin and cannot be edited`);
}

function enabledError(id: string, fields?: string[]): AdminError {
  const what = fields === undefined ? '' : ` (to change ${fields.join(', ')})`;
  return new AdminError(409, `${LABEL} ${id} is enabled: disable it first${what}`);
}

function notSupported(method: string): AdminError {
  return new AdminError(405, `not supported \`${method}\` method for ${LABEL}`);
}

