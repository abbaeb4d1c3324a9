// The etcd key layout: APISIX's, under the configured prefix, so tools that read an APISIX
// etcd find our objects where they expect them.
//   <prefix>/routes/<id>  (services, upstreams, ssls, global_rules, plugin_configs, stream_routes,
//                          consumer_groups, plugin_metadata/<plugin name>: the same shape)
//   <prefix>/consumers/<username>
//   <prefix>/consumers/<username>/credentials/<id>    (APISIX 3)
//   <prefix>/secrets/<manager>/<id>
//   <prefix>/data_plane/server_info/<node id>          (APISIX 3's node registry)
//   <prefix>/gatehouse/custom_plugins/<id>             (ours: APISIX ignores the directory)
//   <prefix>/gatehouse/blobs/<sha256>/<part>            (custom plugins' binaries, in chunks)
import type { ResourceKind } from '../contracts/resources.js';
import { credentialKey, splitCredentialKey } from './state.js';

/** A key range for etcd's range and watch calls: [key, range_end). */
export interface KeyRange { key: Buffer; range_end: Buffer }

/** What an etcd key under the prefix holds. */
export type ParsedKey =
  | { type: 'object'; kind: ResourceKind; id: string }
  /** Not configuration (blobs, the node registry, directories of other APISIX features). */
  | { type: 'other' }
  /** Inside a configuration directory but not an object's key: reported, then skipped. */
  | { type: 'invalid'; reason: string };

const DIRS: Record<ResourceKind, string> = {
  routes: 'routes',
  services: 'services',
  upstreams: 'upstreams',
  consumers: 'consumers',
  credentials: 'consumers',
  consumer_groups: 'consumer_groups',
  plugin_configs: 'plugin_configs',
  global_rules: 'global_rules',
  plugin_metadata: 'plugin_metadata',
  ssls: 'ssls',
  secrets: 'secrets',
  custom_plugins: 'gatehouse/custom_plugins',
  stream_routes: 'stream_routes',
};

/** Directory → kind for the directories that hold one object per key segment. */
const SIMPLE_KINDS = new Map<string, ResourceKind>(
  Object.entries(DIRS).filter(([kind]) => !['consumers', 'credentials', 'secrets'].includes(kind))
    .map(([kind, dir]) => [dir, kind as ResourceKind]),
);

/** The smallest key greater than every key that starts with `key` (etcd's prefix range end). */
export function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  // every byte 0xff: the range runs to the end of the keyspace
  return Buffer.from([0]);
}

export function prefixRange(prefix: string): KeyRange {
  const key = Buffer.from(prefix);
  return { key, range_end: prefixEnd(key) };
}

export class EtcdKeys {
  /** The prefix without a trailing slash (`/gatehouse`). */
  readonly prefix: string;
  /** Everything under the prefix: what the store watches. */
  readonly all: KeyRange;
  /** The blob chunks' directory. */
  readonly blobs: string;
  /** The node registry's directory. */
  readonly nodes: string;

  constructor(prefix: string) {
    this.prefix = prefix.replace(/\/+$/, '');
    this.all = prefixRange(`${this.prefix}/`);
    this.blobs = `${this.prefix}/gatehouse/blobs/`;
    this.nodes = `${this.prefix}/data_plane/server_info/`;
  }

  /**
   * The ranges holding the configuration: everything under the prefix except the blob
   * chunks, which load() must not read (up to 50 MB per custom plugin).
   */
  configRanges(): KeyRange[] {
    const blobs = prefixRange(this.blobs);
    return [
      { key: this.all.key, range_end: blobs.key },
      { key: blobs.range_end, range_end: this.all.range_end },
    ];
  }

  /** The directory of one kind (consumers and credentials share theirs). */
  kindRange(kind: ResourceKind): KeyRange {
    return prefixRange(`${this.prefix}/${DIRS[kind]}/`);
  }

  objectKey(kind: ResourceKind, id: string): string {
    if (kind === 'credentials') {
      const { username, id: credentialId } = splitCredentialKey(id);
      return `${this.prefix}/consumers/${username}/credentials/${credentialId}`;
    }
    return `${this.prefix}/${DIRS[kind]}/${id}`;
  }

  nodeKey(nodeId: string): string {
    return `${this.nodes}${nodeId}`;
  }

  parse(key: string): ParsedKey {
    if (!key.startsWith(`${this.prefix}/`)) return { type: 'other' };
    const parts = key.slice(this.prefix.length + 1).split('/');
    const [dir, ...rest] = parts;
    if (dir === 'gatehouse') {
      if (rest[0] !== 'custom_plugins') return { type: 'other' };
      return single('custom_plugins', rest.slice(1));
    }
    if (dir === 'consumers') {
      if (rest.length === 1) return single('consumers', rest);
      if (rest.length === 3 && rest[1] === 'credentials' && rest[0] !== '' && rest[2] !== '') {
        return { type: 'object', kind: 'credentials', id: credentialKey(rest[0]!, rest[2]!) };
      }
      return { type: 'invalid', reason: 'expected consumers/<username> or consumers/<username>/credentials/<id>' };
    }
    if (dir === 'secrets') {
      if (rest.length === 2 && rest[0] !== '' && rest[1] !== '') return { type: 'object', kind: 'secrets', id: rest.join('/') };
      return { type: 'invalid', reason: 'expected secrets/<manager>/<id>' };
    }
    const kind = SIMPLE_KINDS.get(dir!);
    return kind === undefined ? { type: 'other' } : single(kind, rest);
  }
}

function single(kind: ResourceKind, rest: string[]): ParsedKey {
  // APISIX 2 wrote a value at the directory key itself (`/apisix/routes`): not an object
  if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) return { type: 'other' };
  if (rest.length === 1) return { type: 'object', kind, id: rest[0]! };
  return { type: 'invalid', reason: `expected ${DIRS[kind]}/<id> (an id has no "/")` };
}
