// Building the pieces of an OCI image in tests: a ustar archive (what `FROM scratch` +
// `COPY plugin.wasm` produces), digests, and manifests in the shapes registries serve.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export const WASM_LAYER_TYPE = 'application/vnd.module.wasm.content.layer.v1+wasm';
export const TAR_GZIP_LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';

export const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
export const sha256Hex = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

function header(name: string, size: number, type: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write(type, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** A tar of the given files (regular files; a directory entry when the content is undefined). */
export function tarOf(files: Array<[string, Buffer | undefined]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, data] of files) {
    parts.push(header(name, data?.length ?? 0, data === undefined ? '5' : '0'));
    if (data !== undefined) parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** The layer of a Higress plugin image: a gzipped tar with plugin.wasm at the root. */
export function higressLayer(wasm: Buffer): Buffer {
  return gzipSync(tarOf([['./', undefined], ['./plugin.wasm', wasm]]));
}

export interface Blob { mediaType: string; bytes: Buffer }

export function manifestOf(layers: Blob[], config: Buffer, mediaType = OCI_MANIFEST_TYPE): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType,
    config: { mediaType: mediaType === DOCKER_MANIFEST_TYPE ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: digestOf(l.bytes), size: l.bytes.length })),
  }));
}
