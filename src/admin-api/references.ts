// References between objects as the Admin API sees them: dangling references refused on
// write (with validate.ts's APISIX messages), and objects still in use refused on delete.
import type { ResourceKind } from '../contracts/resources.js';
import type { ConfigStore, StoredObject } from '../contracts/store.js';
import { findObjectReferenceProblem, matchTimeVariablesOf } from '../config-store/validate.js';
import { matchTimeOwnerOf } from '../core/expr/index.js';

type Obj = Record<string, unknown>;

/**
 * The first dangling reference of `value`, or undefined. findObjectReferenceProblem
 * reads synchronously, so the objects it asks for are fetched from the store and the
 * check re-run until it asked for nothing new (at most a few rounds: one per reference).
 */
export async function referenceProblem(store: ConfigStore, kind: ResourceKind, id: string, value: Obj):
  Promise<string | undefined> {
  const cache = new Map<string, StoredObject | undefined>();
  for (;;) {
    const wanted: [ResourceKind, string][] = [];
    const problem = findObjectReferenceProblem(kind, id, value, {
      get: (k, ref) => {
        const key = `${k}\u0000${ref}`;
        if (!cache.has(key)) {
          wanted.push([k, ref]);
          return undefined;
        }
        return cache.get(key);
      },
    });
    if (wanted.length === 0) return problem;
    for (const [k, ref] of wanted) cache.set(`${k}\u0000${ref}`, await store.get(k, ref));
  }
}

const same = (ref: unknown, id: string): boolean => ref !== undefined && ref !== null && String(ref) === id;

/** `route [1]` for the first object of `kind` whose `field` names `id`. */
async function firstWith(store: ConfigStore, kind: ResourceKind, label: string, id: string,
  refOf: (v: Obj) => unknown[]): Promise<string | undefined> {
  for (const o of await store.list(kind)) {
    if (refOf(o.value).some((r) => same(r, id))) return `${label} [${o.id}]`;
  }
  return undefined;
}

/** upstream_ids named by a traffic-split, canary-header or model-router instance in a plugin set. */
function pluginUpstreams(plugins: unknown): unknown[] {
  const ts = (plugins as Obj | undefined)?.['traffic-split'] as Obj | undefined;
  const canary = (plugins as Obj | undefined)?.['canary-header'] as Obj | undefined;
  const router = (plugins as Obj | undefined)?.['model-router'] as Obj | undefined;
  const out: unknown[] = canary?.upstream_id !== undefined ? [canary.upstream_id] : [];
  if (Array.isArray(router?.modelUpstreams)) {
    for (const u of router.modelUpstreams as Obj[]) if (u?.upstream_id !== undefined) out.push(u.upstream_id);
  }
  if (!Array.isArray(ts?.rules)) return out;
  for (const rule of ts.rules as Obj[]) {
    if (!Array.isArray(rule?.weighted_upstreams)) continue;
    for (const wu of rule.weighted_upstreams as Obj[]) if (wu?.upstream_id !== undefined) out.push(wu.upstream_id);
  }
  return out;
}

const PLUGIN_HOLDERS: [ResourceKind, string][] = [
  ['routes', 'route'], ['services', 'service'], ['plugin_configs', 'plugin_config'],
  ['consumers', 'consumer'], ['consumer_groups', 'consumer_group'], ['global_rules', 'global_rule'],
];

/** APISIX's wording: `can not delete this upstream, route [1] is still using it now`. */
export async function upstreamInUse(store: ConfigStore, id: string): Promise<string | undefined> {
  const user = await firstWith(store, 'routes', 'route', id, (v) => [v.upstream_id])
    ?? await firstWith(store, 'services', 'service', id, (v) => [v.upstream_id])
    ?? await firstWith(store, 'stream_routes', 'stream route', id, (v) => [v.upstream_id]);
  if (user !== undefined) return `can not delete this upstream, ${user} is still using it now`;
  for (const [kind, label] of PLUGIN_HOLDERS) {
    const p = await firstWith(store, kind, label, id, (v) => pluginUpstreams(v.plugins));
    if (p !== undefined) return `can not delete this upstream, plugin in ${p} is still using it now`;
  }
  return undefined;
}

export async function serviceInUse(store: ConfigStore, id: string): Promise<string | undefined> {
  const user = await firstWith(store, 'routes', 'route', id, (v) => [v.service_id])
    ?? await firstWith(store, 'stream_routes', 'stream route', id, (v) => [v.service_id]);
  return user === undefined ? undefined : `can not delete this service directly, ${user} is still using it now`;
}

export async function pluginConfigInUse(store: ConfigStore, id: string): Promise<string | undefined> {
  const user = await firstWith(store, 'routes', 'route', id, (v) => [v.plugin_config_id]);
  return user === undefined ? undefined : `can not delete this plugin config, ${user} is still using it now`;
}

/** A route whose `vars` read a variable resolved at match time from plugin `id`'s metadata. */
export async function pluginMetadataInUse(store: ConfigStore, id: string): Promise<string | undefined> {
  const user = await firstWith(store, 'routes', 'route', id, (v) => matchTimeVariablesOf(v.vars).map(matchTimeOwnerOf));
  return user === undefined ? undefined : `can not delete this plugin_metadata, ${user} is still using it now (its vars read the plugin's variables)`;
}

export async function consumerGroupInUse(store: ConfigStore, id: string): Promise<string | undefined> {
  const user = await firstWith(store, 'consumers', 'consumer', id, (v) => [v.group_id]);
  return user === undefined ? undefined : `can not delete this consumer group, ${user} is still using it now`;
}

/**
 * Client certificates are referenced by `tls.client_cert_id` of upstreams (and inline
 * upstreams of routes and services). APISIX does not protect them; we do, because the
 * write-time check would otherwise refuse every later edit of the referencing object.
 */
export async function sslInUse(store: ConfigStore, id: string): Promise<string | undefined> {
  const user = await clientCertUser(store, id);
  return user === undefined ? undefined : `can not delete this ssl, ${user} is still using it now`;
}

/** `upstream [1]` when an upstream (or a route's or service's inline one) names ssl `id` as its client certificate. */
export async function clientCertUser(store: ConfigStore, id: string): Promise<string | undefined> {
  const certOf = (up: unknown): unknown => ((up as Obj | undefined)?.tls as Obj | undefined)?.client_cert_id;
  return await firstWith(store, 'upstreams', 'upstream', id, (v) => [certOf(v)])
    ?? await firstWith(store, 'routes', 'route', id, (v) => [certOf(v.upstream)])
    ?? await firstWith(store, 'services', 'service', id, (v) => [certOf(v.upstream)])
    ?? await firstWith(store, 'stream_routes', 'stream route', id, (v) => [certOf(v.upstream)]);
}
