// The schema of every resource kind, by kind. These are the source of truth for what the
// Admin API and the standalone file accept (served by `GET /apisix/admin/schema/<kind>`).
import type { ResourceKind } from '../../contracts/resources.js';
import type { Schema } from './common.js';
import { consumerGroupSchema } from './consumer-groups.js';
import { consumerSchema } from './consumers.js';
import { credentialSchema } from './credentials.js';
import { globalRuleSchema } from './global-rules.js';
import { pluginConfigSchema } from './plugin-configs.js';
import { pluginMetadataSchema } from './plugin-metadata.js';
import { routeSchema } from './routes.js';
import { serviceSchema } from './services.js';
import { sslSchema } from './ssls.js';
import { upstreamSchema } from './upstreams.js';
import { vaultSecretSchema } from './secrets.js';
import { customPluginSchema } from './custom-plugins.js';
import { streamRouteSchema } from './stream-routes.js';

export const RESOURCE_SCHEMAS: Readonly<Record<ResourceKind, Schema>> = {
  routes: routeSchema,
  services: serviceSchema,
  upstreams: upstreamSchema,
  consumers: consumerSchema,
  credentials: credentialSchema,
  consumer_groups: consumerGroupSchema,
  plugin_configs: pluginConfigSchema,
  global_rules: globalRuleSchema,
  plugin_metadata: pluginMetadataSchema,
  ssls: sslSchema,
  secrets: vaultSecretSchema,
  custom_plugins: customPluginSchema,
  stream_routes: streamRouteSchema,
};

export type { Schema };
export { idSchema, hostDef, ipDef, labelsDef, timeoutDef, HTTP_METHODS } from './common.js';
export { upstreamSchema } from './upstreams.js';
