import type { ServiceRef } from '../contracts/discovery.js';
import type { Upstream } from '../contracts/resources.js';
import type { ConfigView } from '../contracts/store.js';

/**
 * Every service the configuration names: upstream objects and the inline upstreams of
 * routes, services and stream routes. All of them, referenced or not, so a route that
 * starts using an upstream finds its nodes already known.
 */
export function* wantedServices(view: ConfigView): Iterable<ServiceRef> {
  for (const obj of view.list('upstreams')) {
    const ref = refOf(obj.value as Upstream);
    if (ref !== undefined) yield ref;
  }
  for (const kind of ['routes', 'services', 'stream_routes'] as const) {
    for (const obj of view.list(kind)) {
      const inline = (obj.value as { upstream?: Upstream }).upstream;
      const ref = inline !== undefined ? refOf(inline) : undefined;
      if (ref !== undefined) yield ref;
    }
  }
}

function refOf(up: Upstream): ServiceRef | undefined {
  if (up.service_name === undefined || up.discovery_type === undefined) return undefined;
  return { type: up.discovery_type, name: up.service_name, ...(up.discovery_args !== undefined ? { args: up.discovery_args } : {}) };
}
