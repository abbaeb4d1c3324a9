// For plugins that send requests to an upstream of their own (PluginContext.setUpstream):
// the same validation and normalisation a route's inline `upstream` gets.
import { validateResource } from '../config-store/validate.js';

/**
 * The primary watches the services of upstream objects and of routes', services' and
 * stream routes' upstreams only: a plugin's inline upstream naming one would answer 503
 * for ever, so it is refused.
 */
const DISCOVERY_FIELDS = ['service_name', 'discovery_type', 'discovery_args'] as const;

/**
 * `value` checked against the gateway's upstream schema and normalised (defaults filled
 * in, nodes as a list with ports); throws an Error whose message starts with `field`.
 */
export function checkedInlineUpstream(value: unknown, field: string): Record<string, unknown> {
  if (value !== null && typeof value === 'object') {
    const used = DISCOVERY_FIELDS.find((k) => k in value);
    if (used !== undefined) {
      throw new Error(`${field}.${used}: a plugin's inline upstream cannot use service discovery: `
        + 'use upstream_id pointing at an upstream with discovery');
    }
  }
  try {
    return validateResource('upstreams', value) as unknown as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${field}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
