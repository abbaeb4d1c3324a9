import { pluginConfigInUse } from '../references.js';
import type { ResourceDeclaration } from '../resource.js';

export const pluginConfigs: ResourceDeclaration = {
  kind: 'plugin_configs', label: 'plugin config', post: false, patch: true, inUse: pluginConfigInUse,
};
