import type { NodeConfig } from '../contracts/node-config.js';
import type { ConfigStore } from '../contracts/store.js';
import { SqliteStore } from './sqlite-store.js';
import { StandaloneStore } from './standalone-store.js';

/** The store named by `store.type` in conf/config.yaml. */
export async function createStore(config: NodeConfig): Promise<ConfigStore> {
  switch (config.store.type) {
    case 'standalone':
      return new StandaloneStore(config.store.standalone.file);
    case 'sqlite':
      // the node-config loader has already made the path absolute (relative to config.yaml)
      return new SqliteStore(config.store.sqlite.path);
    case 'etcd':
      throw new Error(`store.type "${config.store.type}" is not available in this build yet; use "sqlite" or "standalone"`);
  }
}
