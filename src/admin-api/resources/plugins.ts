// `/apisix/admin/plugins`: the installed plugins (APISIX-compatible) and hot reload.
//
//   GET /plugins/list                      names in execution order (stage, then priority)
//   GET /plugins/list?all=true             (our extension) the detail map below, in execution order
//   GET /plugins?all=true                  map name → {version, stage, priority, type, run_policy, schema,
//                                          consumer_schema, metadata_schema} (also without all=true)
//   GET /plugins/{name}                    the plugin's JSON Schema, `_meta` injected (APISIX)
//   GET /plugins/{name}?schema_type=consumer|metadata
//   GET /plugins/{name}?detail=true        (our extension) {name, version, stage, priority, type,
//                                          run_policy, schema, consumer_schema, metadata_schema}
//   ...&bound=true                         (our extension) each plugin's detail also has `bound_to`: the ids of
//                                          the routes, services, global rules, consumers, consumer groups and
//                                          plugin configs that configure it (the dashboard's cards)
//   PUT /plugins/reload                    re-read config.yaml's whitelist and plugin_dirs, reload everywhere → `done`
//
// `?subsystem=stream` answers as APISIX does with no stream plugins: an empty list, 404 for a name.
import type { LoadedPlugin, PluginRegistry } from '../../plugin-runtime/registry.js';
import { AdminError } from '../errors.js';
import { emptyBindings, type BoundTo } from '../custom-plugins/bindings.js';
import type { AdminRouteHandler } from '../server.js';

export interface PluginsRouteDeps {
  /** The registry the Admin API checks writes with (replaced by a reload). */
  registry(): PluginRegistry;
  /** Reloads the plugins in the primary and on every worker; resolves when done. */
  reload(): Promise<void>;
  /** Where each plugin is bound (`?bound=true`); absent: the parameter is refused. */
  bindings?(): Promise<Map<string, BoundTo>>;
}

/** What `?all=true` and `?detail=true` show of one plugin. Absent fields are left out. */
export interface PluginDetail {
  name: string;
  version: string | number;
  description?: string;
  stage: string;
  priority: number;
  type?: string;
  run_policy?: string;
  schema: Record<string, unknown>;
  consumer_schema?: Record<string, unknown>;
  metadata_schema?: Record<string, unknown>;
}

export function describePlugin(lp: LoadedPlugin): PluginDetail {
  const p = lp.plugin;
  return {
    name: p.name,
    version: p.version,
    ...(p.description !== undefined ? { description: p.description } : {}),
    stage: p.stage,
    priority: p.priority,
    ...(p.type !== undefined ? { type: p.type } : {}),
    ...(p.runPolicy !== undefined ? { run_policy: p.runPolicy } : {}),
    schema: lp.schema,
    ...(p.consumerSchema !== undefined ? { consumer_schema: p.consumerSchema } : {}),
    ...(p.metadataSchema !== undefined ? { metadata_schema: p.metadataSchema } : {}),
  };
}

function detailMap(registry: PluginRegistry, bound: Map<string, BoundTo> | undefined): Record<string, Omit<PluginDetail, 'name'>> {
  const out: Record<string, Omit<PluginDetail, 'name'>> = {};
  for (const lp of registry.list()) {
    const { name, ...rest } = withBindings(describePlugin(lp), bound);
    out[name] = rest;
  }
  return out;
}

async function bindingsIfAsked(query: URLSearchParams, deps: PluginsRouteDeps): Promise<Map<string, BoundTo> | undefined> {
  const v = query.get('bound');
  if (v === null || v === 'false') return undefined;
  if (v !== 'true') throw new AdminError(400, `invalid bound: ${v} (use true or false)`);
  if (deps.bindings === undefined) throw new AdminError(400, 'bound=true is not available here');
  return deps.bindings();
}

function withBindings(detail: PluginDetail, bound: Map<string, BoundTo> | undefined): PluginDetail & { bound_to?: BoundTo } {
  return bound === undefined ? detail : { ...detail, bound_to: bound.get(detail.name) ?? emptyBindings() };
}

function subsystemOf(query: URLSearchParams): 'http' | 'stream' {
  const s = query.get('subsystem') ?? 'http';
  if (s !== 'http' && s !== 'stream') throw new AdminError(400, `unsupported subsystem: ${s}`);
  return s;
}

export function pluginsRoute(deps: PluginsRouteDeps): AdminRouteHandler {
  return async (req) => {
    const [name, ...more] = req.segments;
    if (name === 'reload' && more.length === 0) {
      if (req.method !== 'PUT') {
        throw new AdminError(405, `please use PUT method to reload the plugins, ${req.method} method is not allowed.`);
      }
      try {
        await deps.reload();
      } catch (err) {
        throw new AdminError(500, `failed to reload plugins, the previous plugins keep running: ${(err as Error).message}`);
      }
      return { status: 200, body: undefined, text: 'done' };
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new AdminError(405, `not supported \`${req.method}\` method for plugins`);
    if (more.length > 0) throw new AdminError(404, 'not found');
    const subsystem = subsystemOf(req.query);
    const registry = deps.registry();
    const all = req.query.get('all') === 'true';
    const bound = await bindingsIfAsked(req.query, deps);
    if (name === undefined) return { status: 200, body: subsystem === 'stream' ? {} : detailMap(registry, bound) };
    if (name === 'list') {
      if (subsystem === 'stream') return { status: 200, body: all ? {} : [] };
      return { status: 200, body: all ? detailMap(registry, bound) : registry.list().map((lp) => lp.plugin.name) };
    }
    const lp = subsystem === 'http' ? registry.get(name) : undefined;
    if (lp === undefined) throw new AdminError(404, `plugin not found in subsystem ${subsystem}`);
    if (req.query.get('detail') === 'true') return { status: 200, body: withBindings(describePlugin(lp), bound) };
    const schemaType = req.query.get('schema_type');
    let schema: Record<string, unknown> | undefined;
    if (schemaType === null || schemaType === '' || schemaType === 'default') schema = lp.schema;
    else if (schemaType === 'consumer') schema = lp.plugin.consumerSchema;
    else if (schemaType === 'metadata') schema = lp.plugin.metadataSchema;
    else throw new AdminError(400, `unsupported schema_type: ${schemaType} (use consumer or metadata)`);
    if (schema === undefined) throw new AdminError(400, 'not found schema');
    return { status: 200, body: schema };
  };
}
