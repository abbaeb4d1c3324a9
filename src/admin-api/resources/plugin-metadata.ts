import type { ResourceDeclaration } from '../resource.js';
import { pluginMetadataInUse } from '../references.js';

// One object per plugin, id = the plugin name. The fields belong to the plugin's
// metadata schema, so no server-set timestamps are mixed in.
export const pluginMetadata: ResourceDeclaration = {
  kind: 'plugin_metadata',
  label: 'plugin_metadata',
  post: false,
  patch: false,
  missingId: 'missing plugin name',
  idMaxLength: 128,
  timestamps: false,
  inUse: pluginMetadataInUse,
};
