// Where an Admin API 400 belongs in the editor: a plugin's field, a body field, or (naming
// none) the top of the form. APISIX words them as
//   invalid configuration: property "uri" validation failed: ...
//   failed to check the configuration of plugin limit-count err: property "count" is required
//   invalid plugins configuration: failed to check the configuration of plugin key-auth err: ...
//   failed to fetch upstream info by upstream id [u9], response code: 404
import { fieldNamedBy } from '../api.js';

export interface ErrorTarget {
  /** The plugin the message is about. */
  plugin?: string;
  /** The field, dotted for nested ones (`upstream.nodes`), within the plugin when `plugin` is set. */
  field?: string;
  message: string;
}

const REFERENCE_FIELDS: [RegExp, string][] = [
  [/\bupstream id\b/, 'upstream_id'],
  [/\bservice id\b/, 'service_id'],
  [/\bplugin config id\b|\bplugin_config_id\b/, 'plugin_config_id'],
  [/\bconsumer group id\b|\bgroup_id\b/, 'group_id'],
];

export function errorTarget(message: string): ErrorTarget {
  const plugin = /\bconfiguration of plugin ([A-Za-z0-9_.-]+)(?: err)?:\s*(.*)$/s.exec(message);
  if (plugin !== null) {
    const field = fieldNamedBy(plugin[2]!);
    return { plugin: plugin[1]!, ...(field !== undefined ? { field } : {}), message };
  }
  const unknownPlugin = /\bunknown plugin \[?([A-Za-z0-9_.-]+)\]?/.exec(message);
  if (unknownPlugin !== null) return { plugin: unknownPlugin[1]!, message };
  const field = fieldNamedBy(message) ?? REFERENCE_FIELDS.find(([re]) => re.test(message))?.[1];
  return field !== undefined ? { field, message } : { message };
}
