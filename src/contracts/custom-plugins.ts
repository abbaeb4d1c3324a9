import type { Stage } from './plugin.js';

// A custom (wasm) plugin of the marketplace, as stored under the `custom_plugins` kind
// (Admin API `/apisix/admin/custom_plugins/{id}`). The binary of each version is stored
// content-addressed (sha256) in the store's blob table, never on a path a user gives.

export type FailStrategy = 'FAIL_CLOSE' | 'FAIL_OPEN';

export interface CustomPluginVersion {
  version: string;
  version_description?: string;
  /** Hex sha256 of the .wasm: the key of its blob. */
  sha256: string;
  size: number;
  /** proxy-wasm ABI the module declares (0.1.0, 0.2.0, 0.2.1, 0.2.100). */
  abi: string;
  /** Unix seconds. */
  created_at: number;
}

export interface CustomPlugin {
  /** The plugin ID of the publish form: the name routes bind it by (`plugins: { "<id>": {…} }`). */
  id: string;
  name: string;
  description?: string;
  language?: string;
  stage: Stage;
  priority: number;
  /** `any`, or the lowest gateway version it runs on (`0.2.0`). */
  gateway_version: string;
  /** The root context id the module registers (`plugin_root_id`); default the id. */
  root_id: string;
  fail_strategy: FailStrategy;
  enabled: boolean;
  /** The version serving traffic (one of `versions`). */
  version: string;
  versions: CustomPluginVersion[];
  create_time: number;
  update_time: number;
}
