import type { NodeConfig } from '../contracts/node-config.js';
import type { ConfigStore } from '../contracts/store.js';
import { EtcdStore, type EtcdStoreOptions } from './etcd-store.js';
import { SqliteStore } from './sqlite-store.js';
import { StandaloneStore } from './standalone-store.js';
import { parseStandaloneConfig } from './standalone-parse.js';
import type { ValidateOptions } from './validate.js';
import { readFile } from 'node:fs/promises';
import { logger } from '../core/logger.js';

/** The store named by `store.type` in conf/config.yaml. */
export async function createStore(config: NodeConfig, validate: ValidateOptions = {}): Promise<ConfigStore> {
  switch (config.store.type) {
    case 'standalone':
      return new StandaloneStore(config.store.standalone.file, validate);
    case 'sqlite': {
      // the node-config loader has already made the path absolute (relative to config.yaml)
      const store = new SqliteStore(config.store.sqlite.path);
      const seed = config.store.sqlite.seed;
      if (seed !== undefined && store.revision === 0) {
        const objects = parseStandaloneConfig(await readFile(seed, 'utf8'), validate);
        const result = await store.replaceAll(objects.map(({ kind, id, value }) => ({ kind, id, value })));
        logger().info({ seed, objects: objects.length, revision: result.revision }, 'new database seeded from the standalone file');
      }
      return store;
    }
    case 'etcd':
      // Nothing is sent yet: a node whose etcd is unreachable at start may serve its last
      // good snapshot (src/cluster/); load() fails with a message naming the endpoints.
      return new EtcdStore(etcdStoreOptions(config.store.etcd, validate));
  }
}

/** store.etcd of config.yaml as EtcdStore options. */
function etcdStoreOptions(etcd: NodeConfig['store']['etcd'], validate: ValidateOptions): EtcdStoreOptions {
  return {
    endpoints: etcd.endpoints, prefix: etcd.prefix, timeoutMs: etcd.timeout * 1000, validate,
    ...(etcd.user !== undefined ? { user: etcd.user, password: etcd.password ?? '' } : {}),
    ...(etcd.tls !== undefined ? { tls: etcd.tls } : {}),
  };
}
