import type { Plugin } from '../contracts/plugin.js';

/**
 * Declares a plugin with its config type inferred for the handlers. An identity
 * function: the value is the plugin; the generics are the point.
 */
export function definePlugin<C = Record<string, unknown>, P = C>(plugin: Plugin<C, P>): Plugin<C, P> {
  return plugin;
}
