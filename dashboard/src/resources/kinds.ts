// One declaration per Admin API resource: everything the generic list and editor need to
// know about it (where it lives, how its id is chosen, the columns, the form's fields, a
// new object's skeleton). Adding a resource to the dashboard is adding an entry here.
import type { MessageKey } from '../i18n/index.js';

/** The form controls the editor offers beside the raw JSON (see body-fields.tsx). */
export type FormField =
  | 'name' | 'desc' | 'username' | 'uri' | 'uris' | 'methods' | 'hosts' | 'snis' | 'cert' | 'key'
  | 'upstream_id' | 'service_id' | 'plugin_config_id' | 'group_id' | 'type' | 'nodes' | 'uri_vault' | 'prefix' | 'token';

/** A list column: a label and how to read it from the object. */
export interface Column {
  label: MessageKey;
  value: (v: Record<string, unknown>) => unknown;
}

export type KindName =
  | 'routes' | 'services' | 'upstreams' | 'consumers' | 'credentials' | 'consumer_groups'
  | 'plugin_configs' | 'global_rules' | 'plugin_metadata' | 'ssls' | 'secrets' | 'stream_routes';

export interface ResourceKind {
  name: KindName;
  title: MessageKey;
  /** One object of the kind, lowercase, for sentences ("New route"). */
  one: MessageKey;
  /** The collection's path under /apisix/admin; credentials take their consumer's name. */
  path: (parent?: string) => string;
  /**
   * `generated`: optional, POST to the collection when left empty; `required`: the user picks
   * it, PUT to `<path>/<id>`; `username`: it is the body's `username`, PUT to the collection.
   */
  idRule: 'generated' | 'required' | 'username';
  /** The id is a plugin name (plugin metadata): chosen from the installed plugins. */
  idIsPlugin?: boolean;
  /** A fixed first part of the id the path shows (secrets live at `vault/<id>`). */
  idPrefix?: string;
  columns: Column[];
  fields: FormField[];
  /** Has a `plugins` map, and which schema its plugins' forms come from. */
  plugins?: 'default' | 'consumer';
  /** The whole body is one plugin's configuration (plugin metadata: its metadata schema). */
  bodyIsPluginConfig?: 'metadata';
  skeleton: () => Record<string, unknown>;
}

const text = (key: string) => (v: Record<string, unknown>): unknown => v[key];
const pluginNames = (v: Record<string, unknown>): unknown => Object.keys((v.plugins as object | undefined) ?? {}).join(', ');
const NAME: Column = { label: 'res.col.name', value: text('name') };
const DESC: Column = { label: 'res.col.desc', value: text('desc') };
const PLUGINS: Column = { label: 'res.col.plugins', value: pluginNames };

export const KINDS: readonly ResourceKind[] = [
  {
    name: 'routes', title: 'res.kind.routes', one: 'res.one.routes', path: () => '/routes', idRule: 'generated', plugins: 'default',
    columns: [NAME, { label: 'res.col.uri', value: (v) => v.uri ?? (v.uris as string[] | undefined)?.join(', ') },
      { label: 'res.col.methods', value: (v) => (v.methods as string[] | undefined)?.join(', ') },
      { label: 'res.col.upstream', value: (v) => v.upstream_id ?? v.service_id }, PLUGINS],
    fields: ['name', 'desc', 'uri', 'uris', 'methods', 'hosts', 'upstream_id', 'service_id', 'plugin_config_id'],
    skeleton: () => ({ uri: '/', methods: ['GET'] }),
  },
  {
    name: 'services', title: 'res.kind.services', one: 'res.one.services', path: () => '/services', idRule: 'generated', plugins: 'default',
    columns: [NAME, DESC, { label: 'res.col.upstream', value: text('upstream_id') }, PLUGINS],
    fields: ['name', 'desc', 'hosts', 'upstream_id'],
    skeleton: () => ({ name: '' }),
  },
  {
    name: 'upstreams', title: 'res.kind.upstreams', one: 'res.one.upstreams', path: () => '/upstreams', idRule: 'generated',
    columns: [NAME, { label: 'res.col.type', value: text('type') }, { label: 'res.col.nodes', value: nodesSummary }],
    fields: ['name', 'desc', 'type', 'nodes'],
    skeleton: () => ({ type: 'roundrobin', nodes: [{ host: '127.0.0.1', port: 80, weight: 1 }] }),
  },
  {
    name: 'consumers', title: 'res.kind.consumers', one: 'res.one.consumers', path: () => '/consumers', idRule: 'username', plugins: 'consumer',
    columns: [{ label: 'res.col.username', value: text('username') }, DESC, { label: 'res.col.group', value: text('group_id') }, PLUGINS],
    fields: ['username', 'desc', 'group_id'],
    skeleton: () => ({ username: '' }),
  },
  {
    name: 'credentials', title: 'res.kind.credentials', one: 'res.one.credentials', path: (consumer) => `/consumers/${encodeURIComponent(consumer ?? '')}/credentials`,
    idRule: 'required', plugins: 'consumer', columns: [DESC, PLUGINS], fields: ['desc'],
    skeleton: () => ({ plugins: {} }),
  },
  {
    name: 'consumer_groups', title: 'res.kind.consumer_groups', one: 'res.one.consumer_groups', path: () => '/consumer_groups', idRule: 'required', plugins: 'default',
    columns: [DESC, PLUGINS], fields: ['desc'], skeleton: () => ({ plugins: {} }),
  },
  {
    name: 'plugin_configs', title: 'res.kind.plugin_configs', one: 'res.one.plugin_configs', path: () => '/plugin_configs', idRule: 'required', plugins: 'default',
    columns: [DESC, PLUGINS], fields: ['desc'], skeleton: () => ({ plugins: {} }),
  },
  {
    name: 'global_rules', title: 'res.kind.global_rules', one: 'res.one.global_rules', path: () => '/global_rules', idRule: 'required', plugins: 'default',
    columns: [PLUGINS], fields: [], skeleton: () => ({ plugins: {} }),
  },
  {
    name: 'plugin_metadata', title: 'res.kind.plugin_metadata', one: 'res.one.plugin_metadata', path: () => '/plugin_metadata', idRule: 'required', idIsPlugin: true,
    bodyIsPluginConfig: 'metadata', columns: [{ label: 'res.col.fields', value: (v) => Object.keys(v).filter((k) => k !== 'id').join(', ') }],
    fields: [], skeleton: () => ({}),
  },
  {
    name: 'ssls', title: 'res.kind.ssls', one: 'res.one.ssls', path: () => '/ssls', idRule: 'generated',
    columns: [{ label: 'res.col.snis', value: (v) => ((v.snis as string[] | undefined) ?? [v.sni]).join(', ') }, { label: 'res.col.type', value: text('type') }],
    fields: ['snis', 'cert', 'key'], skeleton: () => ({ snis: [], cert: '', key: '' }),
  },
  {
    name: 'secrets', title: 'res.kind.secrets', one: 'res.one.secrets', path: () => '/secrets', idRule: 'required', idPrefix: 'vault/',
    columns: [{ label: 'res.col.vaultUri', value: text('uri') }, { label: 'res.col.prefix', value: text('prefix') }],
    fields: ['uri_vault', 'prefix', 'token'], skeleton: () => ({ uri: 'http://127.0.0.1:8200', prefix: 'kv/apisix', token: '' }),
  },
  {
    // TCP/UDP routes (docs/stream-routes.md); only stream plugins are accepted, the server's 400 names any other
    name: 'stream_routes', title: 'res.kind.stream_routes', one: 'res.one.stream_routes', path: () => '/stream_routes', idRule: 'generated', plugins: 'default',
    columns: [NAME, { label: 'res.col.serverPort', value: text('server_port') }, { label: 'res.col.remoteAddr', value: text('remote_addr') },
      { label: 'res.col.sni', value: text('sni') }, { label: 'res.col.upstream', value: (v) => v.upstream_id ?? v.service_id }, PLUGINS],
    fields: ['name', 'desc', 'upstream_id', 'service_id'],
    skeleton: () => ({ server_port: 9100, upstream: { type: 'roundrobin', nodes: { '127.0.0.1:3306': 1 } } }),
  },
];

export function kindNamed(name: string | undefined): ResourceKind | undefined {
  return KINDS.find((k) => k.name === name);
}

function nodesSummary(v: Record<string, unknown>): string {
  const nodes = v.nodes;
  if (Array.isArray(nodes)) return nodes.map((n: { host?: string; port?: number }) => `${n.host}:${n.port}`).join(', ');
  return nodes !== null && typeof nodes === 'object' ? Object.keys(nodes).join(', ') : '';
}
