// Validation of one configuration object, and of the references between objects.
// Shared by every writer (Admin API, standalone file, etcd/sqlite sync) so that the same
// input is accepted or refused everywhere, with APISIX's error messages.
import { compilePcre } from '../core/expr/pcre.js';
import { STAGE_ALIASES } from '../contracts/plugin.js';
import { KNOWN_UNSUPPORTED_SECRET_MANAGERS, SECRET_MANAGERS } from './schemas/secrets.js';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { urlHost } from '../core/host-port.js';
import type { PluginsConf, ResourceKind, ResourceTypes } from '../contracts/resources.js';
import type { StoredObject } from '../contracts/store.js';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import { checkSchema, compileSchema, type SchemaValidator } from '../core/schema.js';
import { checkRouteVariable, compileExpr, exprVariables, isKnownVariable, matchTimeOwnerOf } from '../core/expr/index.js';
import { RESOURCE_SCHEMAS } from './schemas/index.js';
import {
  hashCombinationsKeySchema, hashHeaderKeySchema, hashVarsKeySchema,
} from './schemas/upstreams.js';

/** Where a plugin set lives; `schemaType: 'consumer'` means check instances with each plugin's consumer schema. */
export interface PluginCheckWhere {
  kind: ResourceKind;
  id?: string;
  schemaType: 'default' | 'consumer';
}

export interface ValidateOptions {
  /**
   * Checks every plugin instance (name known, schema, `_meta`). Throw an Error whose
   * message is APISIX's (`failed to check the configuration of plugin <name> err: ...`).
   * Absent = plugins are free-form objects.
   */
  checkPlugins?: (plugins: PluginsConf, where: PluginCheckWhere) => void;
  /** Compiles a lua-resty-expr rule (route `vars`); throw with the compile error. Absent = any array. */
  checkExpr?: (rule: unknown[]) => void;
  /** Checks a plugin_metadata object against the plugin's metadata schema; throw on error. */
  checkMetadata?: (pluginName: string, value: Record<string, unknown>) => void;
  /**
   * The registries the node config enables (`discovery:`): an upstream naming another
   * `discovery_type` is refused. Absent = any name, as a store loads what it holds (such an
   * upstream's requests are answered 503 `discovery <type> is uninitialized`).
   */
  discoveryTypes?: readonly string[];
}

type Obj = Record<string, unknown>;
export type Normalized<K extends ResourceKind> = ResourceTypes[K] & Obj;

const validators = new Map<ResourceKind, SchemaValidator>();
function validatorFor(kind: ResourceKind): SchemaValidator {
  let v = validators.get(kind);
  if (v === undefined) {
    v = compileSchema(RESOURCE_SCHEMAS[kind]);
    validators.set(kind, v);
  }
  return v;
}

function invalid(message: string, cause?: unknown): GatehouseError {
  return new GatehouseError('GH_ERR_CONFIG_INVALID', message, cause === undefined ? undefined : { cause });
}

/**
 * Validates one object of `kind` and returns a normalised copy (the input is not
 * modified): schema defaults filled in (`status: 1`, `priority: 0`, upstream `type`,
 * `scheme`, `pass_host`, ...), hosts lower-cased; upstream `nodes` in the array form get
 * `port` and `priority` set and IPv6 hosts bracketed (`[::1]`, as APISIX's data plane
 * does: strip the brackets before handing a host to `net.connect`); the map form is kept
 * as given.
 *
 * Throws GH_ERR_CONFIG_INVALID with APISIX's message: schema failures read
 * `invalid configuration: <schema error>`; APISIX's own cross-field checks keep their
 * unprefixed text (`only one of host or hosts is allowed`, `missing key`, ...).
 * References to other objects are checked separately (`checkReferences`).
 */
export function validateResource<K extends ResourceKind>(kind: K, value: unknown, opts: ValidateOptions = {}):
  Normalized<K> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(`invalid configuration: wrong type: expected object, got ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`);
  }
  const conf = structuredClone(value) as Obj;

  if (kind === 'routes') {
    // APISIX checks these before the schema, so they win over any other error.
    if (conf.host !== undefined && conf.hosts !== undefined) throw invalid('only one of host or hosts is allowed');
    if (conf.remote_addr !== undefined && conf.remote_addrs !== undefined) {
      throw invalid('only one of remote_addr or remote_addrs is allowed');
    }
  }

  if (kind === 'secrets') checkSecretManager(conf.id);
  const upstream = kind === 'upstreams' ? conf : conf.upstream;
  if (upstream !== null && typeof upstream === 'object' && !Array.isArray(upstream) && (kind === 'upstreams' || kind === 'routes' || kind === 'services' || kind === 'stream_routes')) {
    checkServersNamed(upstream as Obj, kind === 'upstreams' ? '' : 'upstream.');
  }
  const err = checkSchema(validatorFor(kind), conf);
  if (err !== undefined) throw invalid(`invalid configuration: ${err}`);

  const id = conf.id !== undefined ? String(conf.id) : typeof conf.username === 'string' ? conf.username : undefined;
  switch (kind) {
    case 'routes':
      if (conf.upstream !== undefined) checkUpstream(conf.upstream as Obj, opts, 'upstream.');
      runPluginCheck(conf, kind, id, opts);
      if (Array.isArray(conf.vars)) {
        try {
          opts.checkExpr?.(conf.vars);
          compileExpr(conf.vars, { checkVariable: checkRouteVariable });
        } catch (e) {
          throw invalid(`failed to validate the 'vars' expression: ${messageOf(e)}`, e);
        }
      }
      lowerHosts(conf);
      break;
    case 'services':
      if (conf.upstream !== undefined) checkUpstream(conf.upstream as Obj, opts, 'upstream.');
      runPluginCheck(conf, kind, id, opts);
      lowerHosts(conf);
      break;
    case 'upstreams':
      checkUpstream(conf, opts, '');
      break;
    case 'consumers':
    case 'credentials':
      runPluginCheck(conf, kind, id, opts);
      break;
    case 'consumer_groups':
    case 'plugin_configs':
    case 'global_rules':
      runPluginCheck(conf, kind, id, opts);
      break;
    case 'plugin_metadata':
      if (opts.checkMetadata !== undefined) {
        try {
          opts.checkMetadata(String(conf.id), conf);
        } catch (e) {
          if (isGatehouseError(e)) throw e;
          throw invalid(`invalid configuration: ${messageOf(e)}`, e);
        }
      }
      break;
    case 'ssls':
      checkSsl(conf);
      break;
    case 'custom_plugins':
      checkCustomPlugin(conf);
      break;
    case 'stream_routes':
      if (conf.upstream !== undefined) checkUpstream(conf.upstream as Obj, opts, 'upstream.');
      if (conf.upstream === undefined && conf.upstream_id === undefined && conf.service_id === undefined) {
        throw invalid('invalid configuration: a stream route needs one of upstream, upstream_id or service_id');
      }
      runPluginCheck(conf, kind, id, opts);
      if (typeof conf.sni === 'string') conf.sni = conf.sni.toLowerCase();
      break;
  }
  return conf as Normalized<K>;
}

/** Higress phase names become the stage in the same position; the serving version must be one of the versions. */
function checkCustomPlugin(conf: Obj): void {
  conf.stage = STAGE_ALIASES[conf.stage as string];
  const versions = conf.versions as { version: string }[];
  const seen = new Set<string>();
  for (const v of versions) {
    if (seen.has(v.version)) throw invalid(`invalid configuration: version ${v.version} appears twice in versions`);
    seen.add(v.version);
  }
  if (!seen.has(conf.version as string)) throw invalid(`invalid configuration: version ${String(conf.version)} is not one of the published versions`);
}

/** `secrets` ids are `<manager>/<id>`; only Vault is implemented, and the other APISIX managers are named as such. */
function checkSecretManager(id: unknown): void {
  const manager = typeof id === 'string' && id.includes('/') ? id.slice(0, id.indexOf('/')) : undefined;
  if (manager === undefined) throw invalid('invalid configuration: secret id must be <manager>/<id>, e.g. vault/1');
  if ((SECRET_MANAGERS as readonly string[]).includes(manager)) return;
  if ((KNOWN_UNSUPPORTED_SECRET_MANAGERS as readonly string[]).includes(manager)) {
    throw invalid(`secret manager ${manager} is not supported by Gatehouse: only vault is implemented`);
  }
  throw invalid(`invalid secret manager: ${manager}`);
}

function runPluginCheck(conf: Obj, kind: ResourceKind, id: string | undefined, opts: ValidateOptions): void {
  if (conf.plugins === undefined || opts.checkPlugins === undefined) return;
  const consumerSide = kind === 'consumers' || kind === 'credentials';
  const where: PluginCheckWhere = { kind, schemaType: consumerSide ? 'consumer' : 'default' };
  if (id !== undefined) where.id = id;
  try {
    opts.checkPlugins(conf.plugins as PluginsConf, where);
  } catch (e) {
    const msg = messageOf(e);
    // consumers and credentials add this prefix in APISIX (admin/consumers.lua)
    throw invalid(consumerSide && !msg.startsWith('invalid plugins configuration: ')
      ? `invalid plugins configuration: ${msg}` : msg, e);
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function lowerHosts(conf: Obj): void {
  if (typeof conf.host === 'string') conf.host = conf.host.toLowerCase();
  if (Array.isArray(conf.hosts)) conf.hosts = conf.hosts.map((h) => String(h).toLowerCase());
}

const SCHEME_PORT: Record<string, number> = { http: 80, https: 443 };

/**
 * The schema's `oneOf` (nodes, or service_name + discovery_type) would only say "value
 * should match only one schema": this names the fields instead.
 */
function checkServersNamed(up: Obj, at: string): void {
  const listed = up.nodes !== undefined;
  const discovered = up.service_name !== undefined || up.discovery_type !== undefined;
  if (listed && discovered) {
    throw invalid(`invalid configuration: ${at}nodes: cannot be used with ${up.service_name !== undefined ? 'service_name' : 'discovery_type'} (the nodes are either listed or discovered)`);
  }
  if (!listed && !discovered) throw invalid(`invalid configuration: ${at}nodes: is required (or service_name and discovery_type)`);
  if (discovered && up.service_name === undefined) throw invalid(`invalid configuration: ${at}service_name: is required with discovery_type`);
  if (discovered && up.discovery_type === undefined) throw invalid(`invalid configuration: ${at}discovery_type: is required with service_name`);
}

/** APISIX `check_upstream_conf` (admin side) plus normalisation of `nodes`; runs after the schema. */
function checkUpstream(up: Obj, opts: ValidateOptions, at: string): void {
  const discovery = up.discovery_type;
  if (typeof discovery === 'string' && opts.discoveryTypes !== undefined && !opts.discoveryTypes.includes(discovery)) {
    const enabled = opts.discoveryTypes.length === 0 ? 'none is' : `${opts.discoveryTypes.join(', ')} ${opts.discoveryTypes.length === 1 ? 'is' : 'are'}`;
    throw invalid(`invalid configuration: ${at}discovery_type: discovery ${discovery} is not enabled in this node's config.yaml (discovery:); ${enabled} enabled`);
  }
  const scheme = typeof up.scheme === 'string' ? up.scheme : 'http';
  if (up.nodes !== undefined && !Array.isArray(up.nodes)) {
    // The map form is kept as written (APISIX stores and returns it so); the data plane reads both forms.
    for (const addr of Object.keys(up.nodes as Record<string, number>)) {
      const { port } = parseAddr(addr);
      if (port !== undefined) {
        const n = Number(port);
        if (!/^\d+$/.test(port) || n < 1 || n > 65535) throw invalid(`invalid port ${port}`);
      }
    }
  } else if (Array.isArray(up.nodes)) {
    for (const n of up.nodes as Obj[]) {
      n.host = urlHost(String(n.host));
      if (n.port === undefined) n.port = SCHEME_PORT[scheme];
      if (n.priority === undefined) n.priority = 0;
    }
  }

  if (up.pass_host === 'rewrite' && (up.upstream_host === undefined || up.upstream_host === '')) {
    throw invalid('`upstream_host` can\'t be empty when `pass_host` is `rewrite`');
  }
  const tls = up.tls as Obj | undefined;
  if (tls !== undefined && typeof tls.client_cert === 'string') {
    const e = pemProblem(tls.client_cert, tls.client_key as string | undefined);
    if (e !== undefined) throw invalid(e);
  }
  if (up.type !== 'chash') return;
  if (up.hash_on !== 'consumer' && up.key === undefined) throw invalid('missing key');
  const keySchema = up.hash_on === 'header' || up.hash_on === 'cookie' ? hashHeaderKeySchema
    : up.hash_on === 'vars_combinations' ? hashCombinationsKeySchema
      : up.hash_on === 'consumer' ? undefined : hashVarsKeySchema;
  if (keySchema !== undefined) {
    const err = checkSchema(compileSchema(keySchema), up.key);
    if (err !== undefined) throw invalid(`invalid configuration: ${err}`);
  }
  if (up.hash_on === 'vars_combinations' && typeof up.key === 'string') {
    for (const m of up.key.matchAll(/\$([a-zA-Z0-9_]+)/g)) {
      if (!isKnownVariable(m[1]!)) throw invalid(`invalid configuration: key: unknown variable '$${m[1]!}'`);
    }
  }
}

/** Splits `host:port`, `[v6]:port`, `[v6]`, a bare IPv6 literal (no port) or a bare host. */
export function parseAddr(addr: string): { host: string; port?: string } {
  if (addr.startsWith('[')) {
    const close = addr.indexOf(']');
    if (close === -1 || close === addr.length - 1) return { host: addr };
    if (addr[close + 1] !== ':') return { host: addr };
    return { host: addr.slice(0, close + 1), port: addr.slice(close + 2) };
  }
  const first = addr.indexOf(':');
  if (first === -1) return { host: addr };
  if (addr.indexOf(':', first + 1) !== -1) return { host: addr }; // IPv6 without brackets: no port
  return { host: addr.slice(0, first), port: addr.slice(first + 1) };
}


// Values resolved at runtime from a secret manager or the environment are not PEM yet.
function isSecretRef(v: string): boolean {
  return v.startsWith('$secret://') || v.startsWith('$env://');
}

/** APISIX `ssl.validate`: both parse; returns the error text or undefined. */
function pemProblem(cert: string, key: string | undefined): string | undefined {
  if (isSecretRef(cert) || (key !== undefined && isSecretRef(key))) return undefined;
  try {
    new X509Certificate(cert);
  } catch (e) {
    return `failed to parse cert: ${messageOf(e)}`;
  }
  if (key === undefined) return undefined;
  try {
    createPrivateKey(key);
  } catch (e) {
    return `failed to parse key: ${messageOf(e)}`;
  }
  return undefined;
}

function checkSsl(conf: Obj): void {
  const e = pemProblem(String(conf.cert), String(conf.key));
  if (e !== undefined) throw invalid(e);
  if (typeof conf.sni === 'string') conf.sni = conf.sni.toLowerCase();
  if (Array.isArray(conf.snis)) conf.snis = conf.snis.map((s) => String(s).toLowerCase());
  if (conf.type === 'client') return;
  const certs = (conf.certs as string[] | undefined) ?? [];
  const keys = (conf.keys as string[] | undefined) ?? [];
  if (certs.length !== keys.length) throw invalid('mismatched number of certs and keys');
  for (let i = 0; i < certs.length; i++) {
    const pe = pemProblem(certs[i]!, keys[i]!);
    if (pe !== undefined) throw invalid(`failed to handle cert-key pair[${i + 1}]: ${pe}`);
  }
  const client = conf.client as Obj | undefined;
  if (client !== undefined) {
    const ce = pemProblem(String(client.ca), undefined);
    if (ce !== undefined) throw invalid(`failed to validate client_cert: ${ce}`);
    // APISIX matches these with PCRE; the data plane runs them on RE2 (linear time), which refuses back references and lookaround.
    for (const [i, pattern] of ((client.skip_mtls_uri_regex as string[] | undefined) ?? []).entries()) {
      try {
        compilePcre(pattern, false);
      } catch (err) {
        throw invalid(`invalid client.skip_mtls_uri_regex[${i + 1}]: ${(err as Error).message}`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// References between objects

/** What reference checks read; ConfigState (and the data plane's ConfigView) fit. */
export interface ConfigLookup {
  list(kind: ResourceKind): Iterable<StoredObject>;
  get(kind: ResourceKind, id: string): StoredObject | undefined;
}

export interface ReferenceProblem {
  kind: ResourceKind;
  id: string;
  message: string;
}

/**
 * The first dangling reference of one object, with APISIX's message
 * (`failed to fetch upstream info by upstream id [99], response code: 404`), or undefined.
 * `id` is the object's store id (for credentials `<username>/<credential id>`).
 */
export function findObjectReferenceProblem(kind: ResourceKind, id: string, value: Obj,
  lookup: Pick<ConfigLookup, 'get'>): string | undefined {
  const missing = (k: ResourceKind, ref: unknown): boolean => lookup.get(k, String(ref)) === undefined;
  const fetchMsg = (what: string, by: string, ref: unknown): string =>
    `failed to fetch ${what} info by ${by} [${String(ref)}], response code: 404`;
  const sslRef = (up: unknown): string | undefined => {
    const certId = ((up as Obj | undefined)?.tls as Obj | undefined)?.client_cert_id;
    if (certId === undefined) return undefined;
    const ssl = lookup.get('ssls', String(certId));
    if (ssl === undefined) return fetchMsg('ssl', 'ssl id', certId);
    if ((ssl.value as Obj).type !== 'client') return `failed to fetch ssl info by ssl id [${String(certId)}], wrong ssl type`;
    return undefined;
  };
  switch (kind) {
    case 'routes':
      if (value.upstream_id !== undefined && missing('upstreams', value.upstream_id)) {
        return fetchMsg('upstream', 'upstream id', value.upstream_id);
      }
      if (value.service_id !== undefined && missing('services', value.service_id)) {
        return fetchMsg('service', 'service id', value.service_id);
      }
      if (value.plugin_config_id !== undefined && missing('plugin_configs', value.plugin_config_id)) {
        return fetchMsg('plugin config', 'plugin config id', value.plugin_config_id);
      }
      return sslRef(value.upstream) ?? matchTimeMetadataProblem(value.vars, missing);
    case 'services':
      if (value.upstream_id !== undefined && missing('upstreams', value.upstream_id)) {
        return fetchMsg('upstream', 'upstream id', value.upstream_id);
      }
      return sslRef(value.upstream);
    case 'upstreams':
      return sslRef(value);
    case 'stream_routes':
      if (value.upstream_id !== undefined && missing('upstreams', value.upstream_id)) {
        return fetchMsg('upstream', 'upstream id', value.upstream_id);
      }
      if (value.service_id !== undefined && missing('services', value.service_id)) {
        return fetchMsg('service', 'service id', value.service_id);
      }
      return sslRef(value.upstream);
    case 'consumers':
      if (value.group_id !== undefined && missing('consumer_groups', value.group_id)) {
        return fetchMsg('consumer group', 'consumer group id', value.group_id);
      }
      return undefined;
    case 'credentials': {
      const username = id.split('/')[0]!;
      return missing('consumers', username) ? fetchMsg('consumer', 'username', username) : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * A variable of a route's `vars` resolved at match time from plugin metadata that does
 * not exist: refused rather than read nil on every request (the route could never match).
 */
function matchTimeMetadataProblem(vars: unknown, missing: (k: ResourceKind, ref: unknown) => boolean): string | undefined {
  for (const name of matchTimeVariablesOf(vars)) {
    const owner = matchTimeOwnerOf(name)!;
    if (missing('plugin_metadata', owner)) {
      return `failed to validate the 'vars' expression: variable '${name}' is resolved when routes are matched `
        + `from plugin_metadata/${owner}, which does not exist (create it first)`;
    }
  }
  return undefined;
}

/** The variables of a route's `vars` that a plugin resolves at match time (none when the rule does not compile). */
export function matchTimeVariablesOf(vars: unknown): string[] {
  if (!Array.isArray(vars)) return [];
  try {
    return exprVariables(vars).filter((name) => matchTimeOwnerOf(name) !== undefined);
  } catch {
    return [];
  }
}

/**
 * A plugin that global rule `id` shares with another global rule, with the other rule's
 * id, or undefined. APISIX runs such a plugin from neither rule, so a write that would
 * create the pair is refused instead.
 */
export function findGlobalRuleConflict(id: string, value: Obj, others: Iterable<{ id: string; value: unknown }>):
  string | undefined {
  const mine = value.plugins as Obj | undefined;
  if (mine === undefined) return undefined;
  for (const other of others) {
    if (other.id === id) continue;
    const theirs = (other.value as Obj | undefined)?.plugins as Obj | undefined;
    if (theirs === undefined) continue;
    for (const name of Object.keys(mine)) {
      if (Object.hasOwn(theirs, name)) {
        return `plugin ${name} is already configured in global rule [${other.id}]: a plugin may be in one global rule only`;
      }
    }
  }
  return undefined;
}

/** Every dangling reference in a whole configuration, in kind order then list order. */
export function findReferenceProblems(lookup: ConfigLookup): ReferenceProblem[] {
  const out: ReferenceProblem[] = [];
  for (const kind of ['routes', 'services', 'upstreams', 'consumers', 'credentials', 'stream_routes'] as const) {
    for (const obj of lookup.list(kind)) {
      const message = findObjectReferenceProblem(kind, obj.id, obj.value, lookup);
      if (message !== undefined) out.push({ kind, id: obj.id, message });
    }
  }
  return out;
}

/**
 * Throws GH_ERR_CONFIG_INVALID for the first dangling `upstream_id`, `service_id`,
 * `plugin_config_id`, consumer `group_id`, `tls.client_cert_id` or credential owner,
 * as `<kind> "<id>": <APISIX message>`.
 */
export function checkReferences(lookup: ConfigLookup): void {
  const first = findReferenceProblems(lookup)[0];
  if (first !== undefined) throw invalid(`${first.kind} "${first.id}": ${first.message}`);
}
