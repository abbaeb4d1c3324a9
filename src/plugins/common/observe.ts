// What plugins share to be observable: bounded text in log variables (ctx.setVar, read by
// log_format) and counters by route for the events they report.
import type { Counter } from 'prom-client';
import type { PluginContext } from '../../contracts/plugin.js';
import { counter } from '../../observability/metrics.js';

/** The most characters of a free text (a validator's message, a policy's reason) a plugin puts in a log variable. */
export const MAX_LOGGED_TEXT = 256;

/** Sets variable `name` to `text`, cut to MAX_LOGGED_TEXT characters (ending in `...` when cut). */
export function setLoggedText(ctx: PluginContext, name: string, text: string): void {
  ctx.setVar(name, text.length > MAX_LOGGED_TEXT ? `${text.slice(0, MAX_LOGGED_TEXT - 3)}...` : text);
}

/**
 * A counter labelled by the request's route id, for events that are not per request
 * (a failed call, a breaker trip): created on first use, so a node that never has the
 * event exports none.
 */
export function routeCounter(name: string, help: string): (ctx: PluginContext) => void {
  let c: Counter<'route'> | undefined;
  return (ctx) => {
    c ??= counter(name, help, ['route']);
    c.inc({ route: ctx.routeId ?? '' });
  };
}
