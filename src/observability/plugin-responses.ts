import { fastCounter, type CounterSeries, type LabelledCounter } from './fast-metrics.js';

// `gatehouse_plugin_responses_total{plugin, route, code}`: requests a plugin answered itself
// (a refusal, a redirect, a mocked reply, or its failure: 500, 504 past the plugin
// deadline, 413 past the body buffer), counted by the runner where it takes the plugin's
// decision. A request no plugin answers costs nothing here. The series are found through
// nested maps keyed by the label values as they come (no key string built per answer),
// cleared when the counter was reset (its series are new objects then) and past a bound
// no real route table reaches.

export const PLUGIN_RESPONSES_METRIC = 'gatehouse_plugin_responses_total';

let counter: LabelledCounter | undefined;
/** plugin → route id → status → series. */
let cache = new Map<string, Map<string, Map<number, CounterSeries>>>();
let cached = 0;
let cacheEpoch = -1;
const CACHE_MAX = 20_000;

function responses(): LabelledCounter {
  return counter ??= fastCounter(PLUGIN_RESPONSES_METRIC,
    'Requests a plugin answered itself (instead of the upstream), by plugin, route id and status code', ['plugin', 'route', 'code']);
}

/** Counts one response `plugin` gave on route `route` ('' when no route matched) with status `code`. */
export function countPluginResponse(plugin: string, route: string, code: number): void {
  const c = responses();
  if (c.epoch !== cacheEpoch || cached >= CACHE_MAX) {
    cache = new Map();
    cached = 0;
    cacheEpoch = c.epoch;
  }
  let byRoute = cache.get(plugin);
  if (byRoute === undefined) cache.set(plugin, byRoute = new Map());
  let byCode = byRoute.get(route);
  if (byCode === undefined) byRoute.set(route, byCode = new Map());
  let series = byCode.get(code);
  if (series === undefined) {
    series = c.labels(plugin, route, String(code));
    byCode.set(code, series);
    cached++;
  }
  series.inc();
}
