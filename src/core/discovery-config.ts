// `discovery:` in config.yaml, as APISIX's: one key per registry the node watches
// (docs/discovery.md). Only the registries Gatehouse implements are accepted, so a
// registry that would do nothing is an error at start rather than a silent 503 later.
import path from 'node:path';
import { isIP } from 'node:net';
import type { DiscoveryConfig, KubernetesDiscoveryConfig } from '../contracts/node-config.js';
import { compileRe2, translatePcre } from './expr/pcre.js';

type Obj = Record<string, unknown>;

const DNS_RECORD_ORDER = ['last', 'SRV', 'A', 'AAAA', 'CNAME'];
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const NAMESPACE = '^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$';

export const DISCOVERY_SCHEMA: Obj = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    dns: {
      type: 'object',
      additionalProperties: false,
      properties: {
        servers: {
          type: 'array', minItems: 1, items: { type: 'string', minLength: 1 },
          'x-message': 'must be a non-empty list of "ip:port" DNS servers',
        },
        resolv_conf: { type: 'string', minLength: 1, 'x-message': 'must be the path of a resolv.conf file' },
        order: {
          type: 'array', minItems: 1, maxItems: 5, uniqueItems: true, items: { enum: DNS_RECORD_ORDER },
          default: DNS_RECORD_ORDER,
          'x-message': 'must be a list of distinct record types among last, SRV, A, AAAA, CNAME',
        },
      },
    },
    consul: {
      type: 'object',
      additionalProperties: false,
      required: ['servers'],
      properties: {
        servers: urlList('Consul'),
        token: { type: 'string', default: '', 'x-message': 'must be a string (the ACL token)' },
        fetch_interval: positiveInteger(3, 'seconds'),
        keepalive: { type: 'boolean', default: true, 'x-message': 'must be true or false' },
        weight: positiveInteger(1, 'the weight of every node'),
        timeout: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: { connect: positiveInteger(2000, 'ms'), read: positiveInteger(2000, 'ms'), wait: positiveInteger(60, 'seconds') },
        },
        sort_type: {
          enum: ['origin', 'host_sort', 'port_sort', 'combine_sort'], default: 'origin',
          'x-message': 'must be one of origin, host_sort, port_sort, combine_sort',
        },
        skip_services: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, 'x-message': 'must be a list of service names' },
        default_service: {
          type: 'object',
          additionalProperties: false,
          required: ['host', 'port'],
          properties: {
            host: { type: 'string', minLength: 1 },
            port: { type: 'integer', minimum: 1, maximum: 65535 },
            metadata: { type: 'object' },
          },
          'x-message': 'must be {host, port, metadata}',
        },
        ...notSupported(['shared_size', 'dump']),
      },
    },
    nacos: {
      type: 'object',
      additionalProperties: false,
      required: ['host'],
      properties: {
        host: {
          type: 'array', minItems: 1,
          items: { type: 'string', minLength: 2, maxLength: 100, pattern: '^https?://([a-zA-Z0-9-_.]+:.+@)?[a-zA-Z0-9-_.:]+$' },
          'x-message': 'must be a non-empty list of http(s)://[user:password@]host:port Nacos addresses',
        },
        prefix: { type: 'string', maxLength: 100, pattern: '^[/a-zA-Z0-9-_.]+$', default: '/nacos/v1/', 'x-message': 'must be a path such as /nacos/v1/' },
        fetch_interval: positiveInteger(30, 'seconds'),
        weight: positiveInteger(100, 'the weight of an instance that reports none'),
        timeout: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: { connect: positiveInteger(2000, 'ms'), send: positiveInteger(2000, 'ms'), read: positiveInteger(5000, 'ms') },
        },
        access_key: { type: 'string', default: '', 'x-message': 'must be a string' },
        secret_key: { type: 'string', default: '', 'x-message': 'must be a string' },
      },
    },
    eureka: {
      type: 'object',
      additionalProperties: false,
      required: ['host'],
      properties: {
        host: urlList('Eureka'),
        prefix: { type: 'string', default: '', 'x-message': 'must be a path such as /eureka/' },
        fetch_interval: positiveInteger(30, 'seconds'),
        weight: { type: 'integer', minimum: 0, default: 100, 'x-message': 'must be an integer >= 0' },
        timeout: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: { connect: positiveInteger(2000, 'ms'), send: positiveInteger(2000, 'ms'), read: positiveInteger(5000, 'ms') },
        },
      },
    },
    kubernetes: {
      anyOf: [kubernetesCluster(false), { type: 'array', minItems: 1, items: kubernetesCluster(true) }],
      'x-message': 'must be one cluster {service, client, ...} or a list of clusters each with an id',
    },
  },
};

/**
 * One cluster; in the list form (`multi`) it needs an id, the API server's address and
 * credentials. Defaults are filled by resolveKubernetes: ajv does not apply them inside anyOf.
 */
function kubernetesCluster(multi: boolean): Obj {
  return {
    type: 'object',
    additionalProperties: false,
    ...(multi ? { required: ['id', 'service', 'client'] } : {}),
    properties: {
      ...(multi ? { id: { type: 'string', pattern: '^[a-z0-9]{1,64}$', 'x-message': 'must be 1-64 lower-case letters or digits' } } : {}),
      service: {
        type: 'object',
        additionalProperties: false,
        ...(multi ? { required: ['host', 'port'] } : {}),
        properties: {
          schema: { enum: ['http', 'https'], 'x-message': 'must be http or https' },
          host: { type: 'string', minLength: 1 },
          port: { type: ['string', 'integer'] },
          ssl_verify: { type: 'boolean', 'x-message': 'must be true or false' },
        },
      },
      client: {
        type: 'object',
        additionalProperties: false,
        properties: {
          token: { type: 'string', minLength: 1, 'x-message': 'must be a bearer token or ${VAR}' },
          token_file: { type: 'string', minLength: 1, maxLength: 500, 'x-message': 'must be the path of a token file' },
        },
      },
      namespace_selector: {
        type: 'object',
        additionalProperties: false,
        maxProperties: 1,
        properties: {
          equal: { type: 'string', pattern: NAMESPACE },
          not_equal: { type: 'string', pattern: NAMESPACE },
          match: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          not_match: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
        },
        'x-message': 'must be one of {equal}, {not_equal}, {match: [regex]}, {not_match: [regex]}',
      },
      label_selector: { type: 'string', 'x-message': 'must be a Kubernetes label selector' },
      default_weight: { type: 'integer', minimum: 0, 'x-message': 'must be an integer >= 0' },
      watch_endpoint_slices: { type: 'boolean', 'x-message': 'must be true or false' },
      ...notSupported(['shared_size']),
    },
  };
}

function positiveInteger(def: number, unit: string): Obj {
  return { type: 'integer', minimum: 1, default: def, 'x-message': `must be an integer >= 1 (${unit})` };
}

function urlList(what: string): Obj {
  return {
    type: 'array', minItems: 1, items: { type: 'string', pattern: '^https?://' },
    'x-message': `must be a non-empty list of http(s):// ${what} addresses`,
  };
}

/** APISIX keys accepted by the schema only so that resolveDiscovery can say why they are refused. */
function notSupported(keys: string[]): Obj {
  return Object.fromEntries(keys.map((k) => [k, {}]));
}

const SHARED_SIZE = 'node sets live in the primary\'s memory, there is no nginx shared dict to size: remove it';
/** Why an APISIX key has no place here. */
const REFUSED: Record<string, string> = {
  'consul.shared_size': SHARED_SIZE,
  'consul.dump': 'not supported by Gatehouse (node sets are not written to a file); remove it',
};

/**
 * The checks between fields and the paths made absolute (relative to the config file's
 * folder `dir`). Throws an Error naming the key.
 */
export function resolveDiscovery(raw: Obj, dir: string, env: NodeJS.ProcessEnv = process.env): DiscoveryConfig {
  for (const [path, why] of Object.entries(REFUSED)) {
    const [registry, key] = path.split('.') as [string, string];
    const section = raw[registry] as Obj | undefined;
    if (section !== undefined && key in section) throw new Error(`discovery.${path}: ${why}`);
  }
  if (raw.kubernetes !== undefined) raw.kubernetes = resolveKubernetes(raw.kubernetes as Obj | Obj[], dir, env);
  const nacos = raw.nacos as { access_key: string; secret_key: string } | undefined;
  if (nacos !== undefined && (nacos.access_key === '') !== (nacos.secret_key === '')) {
    throw new Error('discovery.nacos: access_key and secret_key must be set together');
  }
  (raw.eureka as { host: string[] } | undefined)?.host.forEach((h, i) => { urlAt(h, `discovery.eureka.host[${i}]`); });
  const consul = raw.consul as { servers: string[] } | undefined;
  consul?.servers.forEach((s, i) => {
    const u = urlAt(s, `discovery.consul.servers[${i}]`);
    if ((u.pathname !== '/' && u.pathname !== '') || u.search !== '' || s.endsWith('/')) {
      throw new Error(`discovery.consul.servers[${i}]: must be http(s)://host:port, without a path`);
    }
  });
  const dns = raw.dns as { servers?: string[]; resolv_conf?: string; order: string[] } | undefined;
  if (dns !== undefined) {
    if ((dns.servers === undefined) === (dns.resolv_conf === undefined)) {
      throw new Error('discovery.dns: set exactly one of servers and resolv_conf');
    }
    dns.servers?.forEach((s, i) => {
      if (!isServerAddress(s)) throw new Error(`discovery.dns.servers[${i}]: "${s}" is not an IP address with an optional port ("127.0.0.1:53", "[::1]:53")`);
    });
    if (dns.resolv_conf !== undefined) dns.resolv_conf = path.resolve(dir, dns.resolv_conf);
    if (dns.order.length === 1 && dns.order[0] === 'last') throw new Error('discovery.dns.order: must name a record type besides last');
  }
  return raw as DiscoveryConfig;
}

/**
 * Always a list (the single-object form: one cluster without id); `${VAR}` in host, port,
 * token and token_file read from the environment now (APISIX reads them the same way), so
 * a variable that is not set fails the start naming the key.
 */
function resolveKubernetes(raw: Obj | Obj[], dir: string, env: NodeJS.ProcessEnv): KubernetesDiscoveryConfig[] {
  const multi = Array.isArray(raw);
  const clusters = multi ? raw : [raw];
  const ids = new Set<string>();
  return clusters.map((c, i) => {
    const at = multi ? `discovery.kubernetes[${i}]` : 'discovery.kubernetes';
    if ('shared_size' in c) throw new Error(`${at}.shared_size: ${SHARED_SIZE}`);
    if (multi) {
      if (ids.has(String(c.id))) throw new Error(`${at}.id: "${String(c.id)}" is used twice`);
      ids.add(String(c.id));
    }
    // APISIX's defaults; one cluster defaults to the API server of the pod it runs in
    const service = { schema: 'https', ...(multi ? {} : { host: '${KUBERNETES_SERVICE_HOST}', port: '${KUBERNETES_SERVICE_PORT}' }), ssl_verify: false,
      ...(c.service as Obj | undefined) } as { schema: string; host: string; port: string | number; ssl_verify: boolean };
    const client = { ...(c.client as Obj | undefined) } as { token?: string; token_file?: string };
    // APISIX's default for one cluster: the pod's service account token
    if (!multi && client.token === undefined && client.token_file === undefined) client.token_file = SERVICE_ACCOUNT_TOKEN;
    if ((client.token === undefined) === (client.token_file === undefined)) throw new Error(`${at}.client: set exactly one of token and token_file`);
    const host = readEnv(service.host, `${at}.service.host`, env);
    const portText = readEnv(String(service.port), `${at}.service.port`, env);
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw new Error(`${at}.service.port: "${portText}" is not a port`);
    const token = client.token !== undefined ? readEnv(client.token, `${at}.client.token`, env).trim() : undefined;
    if (token !== undefined && token === '') throw new Error(`${at}.client.token: is empty`);
    const tokenFile = client.token_file !== undefined ? path.resolve(dir, readEnv(client.token_file, `${at}.client.token_file`, env)) : undefined;
    const selector = c.namespace_selector as { match?: string[]; not_match?: string[] } | undefined;
    for (const [key, patterns] of [['match', selector?.match], ['not_match', selector?.not_match]] as const) {
      patterns?.forEach((p, j) => {
        try {
          compileRe2(translatePcre(p), p);
        } catch (e) {
          throw new Error(`${at}.namespace_selector.${key}[${j}]: ${(e as Error).message}`);
        }
      });
    }
    return {
      default_weight: 50,
      watch_endpoint_slices: false,
      ...c,
      service: { schema: service.schema, host, port, ssl_verify: service.ssl_verify },
      client: token !== undefined ? { token } : { token_file: tokenFile! },
    } as unknown as KubernetesDiscoveryConfig;
  });
}

/** `${NAME}` is the environment variable's value; anything else is itself. */
function readEnv(value: string, at: string, env: NodeJS.ProcessEnv): string {
  const m = /^\$\{([_A-Za-z][_A-Za-z0-9]*)\}$/.exec(value);
  if (m === null) return value;
  const v = env[m[1]!];
  if (v === undefined) throw new Error(`${at}: environment variable ${m[1]!} is not set`);
  return v;
}

function urlAt(s: string, at: string): URL {
  try {
    return new URL(s);
  } catch {
    throw new Error(`${at}: "${s}" is not a URL`);
  }
}

/** `ip`, `ip:port` or `[v6]:port`: what dns.Resolver#setServers takes. */
export function isServerAddress(s: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s);
  if (bracketed !== null) return isIP(bracketed[1]!) === 6 && portOk(bracketed[2]);
  if (isIP(s) !== 0) return true;
  const colon = s.lastIndexOf(':');
  return colon > 0 && isIP(s.slice(0, colon)) === 4 && portOk(s.slice(colon + 1));
}

function portOk(p: string | undefined): boolean {
  if (p === undefined) return true;
  const n = Number(p);
  return /^\d{1,5}$/.test(p) && n >= 1 && n <= 65535;
}
