// `POST /apisix/admin/custom_plugins/import`: a Higress WasmPlugin resource into the
// marketplace (issue 11 §5). The binary is fetched from spec.url (or sent along, for a
// file:// url the CLI read), published through the publish form's own path, and the
// resource's defaultConfig + matchRules are bound as one global rule `wasmplugin-<id>`,
// so the plugin applies to every route as it does in Higress.
//
// Body: the resource as YAML (application/yaml, text/yaml) or JSON; or JSON
// `{"resource": {...}, "wasm_base64": "..."}` carrying the binary of a file:// url.
import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import type { CustomPlugin } from '../../contracts/custom-plugins.js';
import type { ConfigStore } from '../../contracts/store.js';
import { validateResource } from '../../config-store/validate.js';
import { compileRules } from '../../wasm-host/rules.js';
import { AdminError, badRequest } from '../errors.js';
import { checkPathId } from '../ids.js';
import { readBody } from '../http-io.js';
import type { AdminRouteResponse, AdminUploadHandler } from '../server.js';
import { DEFAULT_FETCH_OPTIONS, fetchLimited, parseOciUrl, pullOciWasm, type FetchOptions } from './fetch-wasm.js';
import { MAX_WASM_BYTES, WASM_TOO_LARGE } from './limits.js';
import type { CustomPluginsApi } from './route.js';
import { mapWasmPlugin, parseResourceDocuments, type MappedWasmPlugin } from './wasmplugin.js';

type Obj = Record<string, unknown>;

/** The resource plus a base64 binary: 50 MB of wasm is ~67 MB of base64. */
const MAX_IMPORT_BODY = Math.ceil(MAX_WASM_BYTES / 3) * 4 + 1024 * 1024;
export const GLOBAL_RULE_PREFIX = 'wasmplugin-';

export interface ImportDeps {
  api: CustomPluginsApi;
  store: ConfigStore;
  fetch?: FetchOptions;
  now?: () => number;
}

export interface ImportRequest {
  resource: unknown;
  /** The binary, when the caller read a file:// url itself. */
  wasm?: Buffer;
}

/** The import body: one resource (YAML or JSON), or JSON {resource, wasm_base64}. */
export function parseImportBody(raw: Buffer, contentType: string | undefined): ImportRequest {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (!['application/yaml', 'text/yaml', 'application/x-yaml', 'application/json', ''].includes(type)) {
    throw new AdminError(415, `unsupported content type ${JSON.stringify(contentType)}: send the WasmPlugin as application/yaml or application/json`);
  }
  if (raw.length === 0) throw badRequest('missing body: a WasmPlugin resource');
  const docs = parseResourceDocuments(raw.toString('utf8'));
  if (docs.length !== 1) throw badRequest(`invalid body: send one WasmPlugin per request, got ${docs.length} documents`);
  const doc = docs[0];
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc) && Object.hasOwn(doc, 'resource')) {
    const { resource, wasm_base64: b64, ...rest } = doc as Obj;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw badRequest(`unknown field ${extra} (the import body has resource, wasm_base64)`);
    if (b64 === undefined) return { resource };
    if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length === 0) {
      throw badRequest('invalid field wasm_base64: expected the .wasm as base64');
    }
    return { resource, wasm: Buffer.from(b64, 'base64') };
  }
  return { resource: doc };
}

export function importRoute(deps: ImportDeps): AdminUploadHandler {
  return async (req: IncomingMessage, ctx) => {
    const raw = await readBody(req, MAX_IMPORT_BODY).catch((e: unknown) => {
      if (e instanceof AdminError && e.status === 413) throw new AdminError(413, `the import body is larger than ${MAX_IMPORT_BODY} bytes`);
      throw e;
    });
    const request = parseImportBody(raw, req.headers['content-type']);
    return importWasmPlugin(deps, request);
  };
}

/** The version of an imported binary: named by the resource, else the image tag, else the digest's first 12 hex. */
export function importedVersion(mapped: MappedWasmPlugin, sha256: string, tag: string | undefined): string {
  if (mapped.version !== undefined) return mapped.version;
  if (tag !== undefined && tag !== 'latest') return tag;
  return sha256.slice(0, 12);
}

/** Istio's rule: unspecified means IfNotPresent, except Always for an oci:// image tagged latest (or untagged). */
export function effectivePullPolicy(mapped: MappedWasmPlugin): 'IfNotPresent' | 'Always' {
  if (mapped.pullPolicy !== 'UNSPECIFIED_POLICY') return mapped.pullPolicy;
  return ociTag(mapped.url) === 'latest' ? 'Always' : 'IfNotPresent';
}

function ociTag(url: string): string | undefined {
  return /^oci:\/\//i.test(url) ? parseOciUrl(url).tag : undefined;
}

/**
 * With IfNotPresent: the stored binary of the serving version, when that version is the
 * one the resource names (its version label, else its image tag); then nothing is pulled.
 */
async function presentBinary(deps: ImportDeps, mapped: MappedWasmPlugin): Promise<{ bytes: Buffer; tag?: string } | undefined> {
  if (effectivePullPolicy(mapped) !== 'IfNotPresent') return undefined;
  const tag = ociTag(mapped.url);
  const wanted = mapped.version ?? (tag !== 'latest' ? tag : undefined);
  if (wanted === undefined) return undefined;
  const current = (await deps.store.get('custom_plugins', mapped.id))?.value as unknown as CustomPlugin | undefined;
  if (current?.version !== wanted) return undefined;
  const serving = current.versions.find((v) => v.version === wanted);
  const bytes = serving === undefined ? undefined : await deps.store.blobs?.getBlob(serving.sha256);
  return bytes === undefined ? undefined : { bytes: Buffer.from(bytes), ...(tag !== undefined ? { tag } : {}) };
}

/** The binary's hex sha256; a 400 naming both digests when the resource pins another. */
export function verifySha256(pinned: string | undefined, bytes: Buffer): string {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (pinned !== undefined && pinned !== sha256) {
    throw badRequest(`invalid field spec.sha256: the resource pins ${pinned}, the binary fetched from spec.url has ${sha256}`);
  }
  return sha256;
}

async function fetchBinary(url: string, opts: FetchOptions): Promise<{ bytes: Buffer; tag?: string }> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'oci') return pullOciWasm(url, opts);
  if (scheme === 'http' || scheme === 'https') {
    const { bytes } = await fetchLimited(url, { ...opts, maxBytes: MAX_WASM_BYTES, tooLarge: WASM_TOO_LARGE, field: 'spec.url' });
    return { bytes };
  }
  if (scheme === 'file') {
    throw badRequest('unsupported field spec.url: file:// urls are not read by the Admin API (it does not read the gateway '
      + 'host\'s files); import with `gatehouse plugin import FILE.yaml`, which reads the file and uploads it');
  }
  throw badRequest(`invalid field spec.url: expected oci://, http(s):// or file://, got ${JSON.stringify(url)}`);
}

export async function importWasmPlugin(deps: ImportDeps, request: ImportRequest): Promise<AdminRouteResponse> {
  const mapped = mapWasmPlugin(request.resource);
  const ruleId = `${GLOBAL_RULE_PREFIX}${mapped.id}`;
  try {
    checkPathId(mapped.id, 'custom plugin', { max: 64 - GLOBAL_RULE_PREFIX.length });
  } catch (e) {
    throw badRequest(`invalid field metadata.name: ${(e as Error).message} (the plugin id; its global rule is ${ruleId})`);
  }
  try {
    compileRules(mapped.configuration);
  } catch (e) {
    throw badRequest(`invalid field spec.matchRules: ${(e as Error).message}`);
  }
  // the publish check configures the module with what applies where no rule matches
  const globalKeys = Object.fromEntries(Object.entries(mapped.configuration).filter(([k]) => k !== '_rules_'));
  if (deps.api.isBuiltIn(mapped.id) && (await deps.store.get('custom_plugins', mapped.id)) === undefined) {
    throw new AdminError(403, `${mapped.id} is a built-in plugin and cannot be edited`);
  }
  if (deps.store.readOnly || deps.store.blobs === undefined) {
    throw new AdminError(405, `the configuration is read-only with store.type ${deps.store.type}: change the configuration file instead`);
  }
  let fetched: { bytes: Buffer; tag?: string };
  if (request.wasm !== undefined) {
    if (!/^file:\/\//i.test(mapped.url)) throw badRequest('invalid field wasm_base64: only for a file:// spec.url (other urls are fetched by the gateway)');
    fetched = { bytes: request.wasm };
  } else {
    fetched = await presentBinary(deps, mapped) ?? await fetchBinary(mapped.url, deps.fetch ?? DEFAULT_FETCH_OPTIONS);
  }
  if (fetched.bytes.length > MAX_WASM_BYTES) throw new AdminError(413, WASM_TOO_LARGE);
  const sha256 = verifySha256(mapped.sha256, fetched.bytes);
  const version = importedVersion(mapped, sha256, fetched.tag);
  return deps.api.serial(async () => {
    const pluginResult = await publishOrKeep(deps, mapped, fetched.bytes, sha256, version, globalKeys);
    const rule = await bindGlobalRule(deps, ruleId, mapped.id, mapped.configuration);
    return {
      status: pluginResult.action === 'created' ? 201 : 200,
      body: {
        plugin: { id: mapped.id, version: pluginResult.version, sha256, action: pluginResult.action },
        global_rule: { id: ruleId, action: rule },
      },
    };
  });
}

type PluginAction = 'created' | 'published' | 'updated' | 'unchanged';

/** Publishes a new binary, updates changed fields, or leaves an identical plugin alone. */
async function publishOrKeep(deps: ImportDeps, mapped: MappedWasmPlugin, bytes: Buffer, sha256: string, version: string,
  globalKeys: Obj): Promise<{ action: PluginAction; version: string }> {
  const existing = await deps.store.get('custom_plugins', mapped.id);
  const current = existing?.value as unknown as CustomPlugin | undefined;
  const serving = current?.versions.find((v) => v.version === current.version);
  if (current !== undefined && serving?.sha256 === sha256) {
    const changed = Object.entries(mapped.fields).filter(([k, v]) => (current as unknown as Obj)[k] !== v);
    if (changed.length === 0) return { action: 'unchanged', version: current.version };
    await deps.api.updateFields(mapped.id, Object.fromEntries(changed));
    return { action: 'updated', version: current.version };
  }
  const { status } = await deps.api.publishBinary(mapped.id, {
    id: mapped.id, fields: mapped.fields, version,
    versionDescription: `imported from ${mapped.url}`,
    configuration: Buffer.from(JSON.stringify(globalKeys)),
  }, bytes);
  return { action: status === 201 ? 'created' : 'published', version };
}

/** `wasmplugin-<id>`: `plugins: {<id>: conf}`, written only when it differs. */
async function bindGlobalRule(deps: ImportDeps, ruleId: string, pluginId: string, conf: Obj): Promise<'created' | 'updated' | 'unchanged'> {
  const existing = await deps.store.get('global_rules', ruleId);
  const plugins = { [pluginId]: conf };
  if (existing !== undefined && JSON.stringify(existing.value.plugins) === JSON.stringify(plugins)) return 'unchanged';
  const now = deps.now?.() ?? Math.floor(Date.now() / 1000);
  const value = validateResource('global_rules', {
    ...(existing?.value ?? {}), id: ruleId, plugins, create_time: existing?.value.create_time ?? now, update_time: now,
  }) as Obj;
  await deps.store.put('global_rules', ruleId, value, { expectedRevision: existing?.modifiedIndex ?? 0 });
  return existing === undefined ? 'created' : 'updated';
}
