import type { ResourceDeclaration } from '../resource.js';

/** APISIX's admin/stream_routes.lua: no PATCH (`unsupported_methods = { "patch" }`). */
export const streamRoutes: ResourceDeclaration = { kind: 'stream_routes', label: 'stream route', post: true, patch: false };
