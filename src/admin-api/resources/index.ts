// Every resource the Admin API serves, by its path segment under /apisix/admin.
// Credentials live under their consumer (`consumers/<username>/credentials`).
import type { ResourceDeclaration } from '../resource.js';
import { consumerGroups } from './consumer-groups.js';
import { consumers } from './consumers.js';
import { credentials } from './credentials.js';
import { globalRules } from './global-rules.js';
import { pluginConfigs } from './plugin-configs.js';
import { pluginMetadata } from './plugin-metadata.js';
import { routes } from './routes.js';
import { secrets } from './secrets.js';
import { services } from './services.js';
import { ssls } from './ssls.js';
import { streamRoutes } from './stream-routes.js';
import { upstreams } from './upstreams.js';

export const RESOURCES: Readonly<Record<string, ResourceDeclaration>> = {
  routes,
  services,
  upstreams,
  consumers,
  consumer_groups: consumerGroups,
  plugin_configs: pluginConfigs,
  global_rules: globalRules,
  plugin_metadata: pluginMetadata,
  ssls,
  stream_routes: streamRoutes,
};

/** `secrets/<manager>/<id>`: nested under the manager's name, like credentials under their consumer. */
export { secrets };

export { credentials };
