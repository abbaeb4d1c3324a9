// Fetching a WasmPlugin's binary: http(s) with a size cap and a timeout, and oci:// through
// the OCI distribution API (manifest, then the layer holding the module).
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { AdminError, badRequest } from '../errors.js';
import { MAX_WASM_BYTES, WASM_TOO_LARGE } from './limits.js';

type Obj = Record<string, unknown>;

export const WASM_LAYER = 'application/vnd.module.wasm.content.layer.v1+wasm';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(', ');
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** A gzipped layer is inflated at most to this (the module inside is capped at 50 MB anyway). */
const MAX_LAYER_BYTES = MAX_WASM_BYTES + 16 * 1024 * 1024;

export interface FetchOptions {
  timeoutMs: number;
}

export const DEFAULT_FETCH_OPTIONS: FetchOptions = { timeoutMs: 30_000 };

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

interface LimitedGet extends FetchOptions {
  maxBytes: number;
  tooLarge: string;
  field: string;
  accept?: string;
  /** A registry's anonymous pull token, fetched on its first 401 and then sent with every request. */
  auth?: { token?: string };
}

async function get(url: string, opts: LimitedGet): Promise<Response> {
  const headers: Record<string, string> = {};
  if (opts.accept !== undefined) headers.accept = opts.accept;
  if (opts.auth?.token !== undefined) headers.authorization = `Bearer ${opts.auth.token}`;
  try {
    return await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs), redirect: 'follow', headers });
  } catch (e) {
    const err = e as Error;
    const why = err.name === 'TimeoutError' ? `no answer within ${opts.timeoutMs} ms` : (err.cause as Error | undefined)?.message ?? err.message;
    throw badRequest(`invalid field ${opts.field}: cannot fetch ${url}: ${why}`);
  }
}

/** `Bearer realm="…",service="…",scope="…"` → its parameters, or undefined for another scheme. */
export function parseBearerChallenge(header: string | null): Record<string, string> | undefined {
  if (header === null || !/^bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/([a-z_]+)="([^"]*)"/gi)) params[m[1]!.toLowerCase()] = m[2]!;
  return params.realm === undefined ? undefined : params;
}

/** The token service's anonymous token (what `docker pull` of a public image does). */
async function anonymousToken(challenge: Record<string, string>, opts: LimitedGet): Promise<string> {
  const realm = new URL(challenge.realm!);
  if (challenge.service !== undefined) realm.searchParams.set('service', challenge.service);
  if (challenge.scope !== undefined) realm.searchParams.set('scope', challenge.scope);
  const res = await get(realm.href, { ...opts, auth: {} });
  const body = res.status === 200 ? await res.json().catch(() => undefined) as Obj | undefined : undefined;
  const token = body?.token ?? body?.access_token;
  if (typeof token !== 'string' || token === '') {
    throw badRequest(`invalid field ${opts.field}: the registry wants a login (anonymous token from ${realm.origin} refused: ${res.status}); `
      + 'spec.imagePullSecret is not supported');
  }
  return token;
}

/** GET `url`, refusing more than `maxBytes` (413 with `tooLarge`); failures are 400s naming `field`. */
export async function fetchLimited(url: string, opts: LimitedGet): Promise<{ bytes: Buffer; contentType: string }> {
  let res = await get(url, opts);
  const challenge = res.status === 401 && opts.auth !== undefined && opts.auth.token === undefined
    ? parseBearerChallenge(res.headers.get('www-authenticate')) : undefined;
  if (challenge !== undefined) {
    await res.body?.cancel().catch(() => undefined);
    opts.auth!.token = await anonymousToken(challenge, opts);
    res = await get(url, opts);
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    throw badRequest(`invalid field ${opts.field}: ${url} answered ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > opts.maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new AdminError(413, opts.tooLarge);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body ?? []) {
      size += chunk.length;
      if (size > opts.maxBytes) throw new AdminError(413, opts.tooLarge);
      chunks.push(Buffer.from(chunk));
    }
  } catch (e) {
    if (e instanceof AdminError) throw e;
    throw badRequest(`invalid field ${opts.field}: reading ${url} failed: ${(e as Error).message}`);
  }
  return { bytes: Buffer.concat(chunks), contentType: res.headers.get('content-type') ?? '' };
}

export interface OciReference {
  /** host[:port] */
  registry: string;
  repository: string;
  /** A tag or a `sha256:…` digest. */
  reference: string;
  tag?: string;
}

/** `oci://HOST[:PORT]/REPO[:TAG|@sha256:…]` (tag default `latest`). */
export function parseOciUrl(url: string): OciReference {
  const rest = url.slice('oci://'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) throw badRequest(`invalid field spec.url: ${url} names no repository (oci://HOST/REPO[:TAG])`);
  const registry = rest.slice(0, slash);
  let path = rest.slice(slash + 1);
  let reference: string;
  let tag: string | undefined;
  const at = path.indexOf('@');
  if (at !== -1) {
    reference = path.slice(at + 1);
    path = path.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(reference)) throw badRequest(`invalid field spec.url: digest ${reference} is not sha256:<64 hex>`);
  } else {
    const colon = path.lastIndexOf(':');
    tag = colon === -1 ? 'latest' : path.slice(colon + 1);
    if (colon !== -1) path = path.slice(0, colon);
    if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag)) throw badRequest(`invalid field spec.url: tag ${JSON.stringify(tag)} is not valid`);
    reference = tag;
  }
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(path)) {
    throw badRequest(`invalid field spec.url: repository ${JSON.stringify(path)} is not valid`);
  }
  return { registry, repository: path, reference, ...(tag !== undefined ? { tag } : {}) };
}

/** Loopback registries are spoken to in plain http (test and local registries); others only over https. */
export function registryBaseUrl(registry: string): string {
  const host = registry.replace(/:[0-9]+$/, '').replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
  return `${loopback ? 'http' : 'https'}://${registry}`;
}

export interface Descriptor { mediaType: string; digest: string; size?: number }

function descriptors(list: unknown, what: string): Descriptor[] {
  if (!Array.isArray(list)) throw badRequest(`invalid field spec.url: the image manifest has no ${what}`);
  return list.filter((d): d is Descriptor => isObject(d) && typeof d.digest === 'string' && typeof d.mediaType === 'string');
}

/** An index or manifest list: the manifest to follow (the first one). */
export function selectFromIndex(index: Obj): Descriptor {
  const first = descriptors(index.manifests, 'manifests')[0];
  if (first === undefined) throw badRequest('invalid field spec.url: the image index lists no manifest');
  return first;
}

/** The layers worth opening, best first: a wasm layer alone, else the tar layers from the top down. */
export function selectLayers(manifest: Obj): Descriptor[] {
  const layers = descriptors(manifest.layers, 'layers');
  const wasm = layers.find((l) => l.mediaType === WASM_LAYER);
  if (wasm !== undefined) return [wasm];
  const tars = layers.filter((l) => /tar/.test(l.mediaType)).reverse();
  if (tars.length === 0) {
    throw badRequest(`invalid field spec.url: the image has no wasm layer (${WASM_LAYER}) and no tar layer `
      + `(layers: ${layers.map((l) => l.mediaType).join(', ') || 'none'})`);
  }
  return tars;
}

/**
 * The `plugin.wasm` in a tar (gzipped or not): ustar headers of 512 bytes, then the data
 * padded to 512. The file Higress images carry is `plugin.wasm` at the root.
 */
export function extractPluginWasm(layer: Buffer): Buffer | undefined {
  let tar = layer;
  if (layer[0] === 0x1f && layer[1] === 0x8b) {
    try {
      tar = gunzipSync(layer, { maxOutputLength: MAX_LAYER_BYTES });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new AdminError(413, WASM_TOO_LARGE);
      throw badRequest(`invalid field spec.url: a layer is not valid gzip: ${(e as Error).message}`);
    }
  }
  let longName: string | undefined;
  for (let off = 0; off + 512 <= tar.length;) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, len: number): string => {
      const raw = header.subarray(start, start + len);
      const end = raw.indexOf(0);
      return raw.subarray(0, end === -1 ? len : end).toString('utf8');
    };
    const size = parseInt(field(124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || size < 0) throw badRequest('invalid field spec.url: a layer is not a valid tar archive');
    const type = field(156, 1);
    const prefix = field(345, 155);
    const name = longName ?? (prefix !== '' ? `${prefix}/${field(0, 100)}` : field(0, 100));
    const dataStart = off + 512;
    const data = tar.subarray(dataStart, dataStart + size);
    longName = undefined;
    if (type === 'L') longName = data.toString('utf8').replace(/\0.*$/s, '');
    else if ((type === '0' || type === '' || type === '7') && name.replace(/^(\.\/|\/)+/, '') === 'plugin.wasm') {
      if (data.length !== size) throw badRequest('invalid field spec.url: plugin.wasm in the layer is truncated');
      return Buffer.from(data);
    }
    off = dataStart + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

async function getJson(url: string, opts: FetchOptions & { auth: { token?: string } }): Promise<{ body: Obj; contentType: string }> {
  const { bytes, contentType } = await fetchLimited(url, {
    ...opts, accept: MANIFEST_ACCEPT, maxBytes: MAX_MANIFEST_BYTES, tooLarge: 'the image manifest is larger than 4 MB', field: 'spec.url',
  });
  try {
    const body: unknown = JSON.parse(bytes.toString('utf8'));
    if (!isObject(body)) throw new Error('not an object');
    return { body, contentType };
  } catch (e) {
    throw badRequest(`invalid field spec.url: ${url} is not a JSON manifest: ${(e as Error).message}`);
  }
}

/** Pulls the module of an `oci://` image. */
export async function pullOciWasm(url: string, opts: FetchOptions = DEFAULT_FETCH_OPTIONS): Promise<{ bytes: Buffer; tag?: string }> {
  const ref = parseOciUrl(url);
  const base = `${registryBaseUrl(ref.registry)}/v2/${ref.repository}`;
  const session = { ...opts, auth: {} };
  let { body: manifest, contentType } = await getJson(`${base}/manifests/${ref.reference}`, session);
  const type = (typeof manifest.mediaType === 'string' ? manifest.mediaType : contentType.split(';')[0]!.trim());
  if (type === OCI_INDEX || type === DOCKER_LIST || Array.isArray(manifest.manifests)) {
    ({ body: manifest } = await getJson(`${base}/manifests/${selectFromIndex(manifest).digest}`, session));
  }
  for (const layer of selectLayers(manifest)) {
    const blob = await fetchBlob(`${base}/blobs/${layer.digest}`, layer, session);
    if (layer.mediaType === WASM_LAYER) return { bytes: blob, ...(ref.tag !== undefined ? { tag: ref.tag } : {}) };
    const wasm = extractPluginWasm(blob);
    if (wasm !== undefined) {
      if (wasm.length > MAX_WASM_BYTES) throw new AdminError(413, WASM_TOO_LARGE);
      return { bytes: wasm, ...(ref.tag !== undefined ? { tag: ref.tag } : {}) };
    }
  }
  throw badRequest(`invalid field spec.url: no layer of ${url} holds plugin.wasm`);
}

async function fetchBlob(url: string, layer: Descriptor, opts: FetchOptions & { auth: { token?: string } }): Promise<Buffer> {
  const maxBytes = layer.mediaType === WASM_LAYER ? MAX_WASM_BYTES : MAX_LAYER_BYTES;
  const { bytes } = await fetchLimited(url, { ...opts, maxBytes, tooLarge: WASM_TOO_LARGE, field: 'spec.url' });
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (layer.digest.startsWith('sha256:') && digest !== layer.digest) {
    throw badRequest(`invalid field spec.url: layer ${layer.digest} arrived with digest ${digest}`);
  }
  return bytes;
}
