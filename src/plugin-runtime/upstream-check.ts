// For plugins that send requests to an upstream of their own (PluginContext.setUpstream):
// the same validation and normalisation a route's inline `upstream` gets.
import { validateResource } from '../config-store/validate.js';

/**
 * `value` checked against the gateway's upstream schema and normalised (defaults filled
 * in, nodes as a list with ports); throws an Error whose message starts with `field`.
 */
export function checkedInlineUpstream(value: unknown, field: string): Record<string, unknown> {
  try {
    return validateResource('upstreams', value) as unknown as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${field}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
