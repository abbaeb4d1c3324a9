import type { ServiceRef } from '../contracts/discovery.js';

// One name per discovered service, the same in the primary and the workers: the
// primary's node sets travel to the workers under it, and an upstream finds its set by it.

/** nacos's defaults for `discovery_args` (APISIX's). */
export const NACOS_DEFAULT_NAMESPACE = 'public';
export const NACOS_DEFAULT_GROUP = 'DEFAULT_GROUP';

/** How the service reads within its registry: its name, or `namespace/group/name` for nacos (the only registry using `discovery_args`). */
export function serviceLabel(ref: ServiceRef): string {
  if (ref.type !== 'nacos') return ref.name;
  return `${ref.args?.namespace_id ?? NACOS_DEFAULT_NAMESPACE}/${ref.args?.group_name ?? NACOS_DEFAULT_GROUP}/${ref.name}`;
}

export function serviceKey(ref: ServiceRef): string {
  return `${ref.type}:${serviceLabel(ref)}`;
}
