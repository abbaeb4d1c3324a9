import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PluginRegistry } from '../plugin-runtime/registry.js';

// A field a plugin does not implement is refused at write time with its name, never
// accepted and ignored: APISIX's fields Gatehouse has not built (limit-count's and
// limit-conn's `rules`, the redis policies' keepalive pool settings, which an ioredis
// connection shared per target has no use for) and plain typos alike. `_meta` (injected
// by the runtime into every schema) stays accepted. The redis policies themselves are
// built (common/redis-policy.test.ts).

const VALID: Record<string, Record<string, unknown>> = {
  'limit-count': { count: 1, time_window: 60 },
  'limit-req': { rate: 1, burst: 0, key: 'remote_addr' },
  'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr' },
  prometheus: {},
  'proxy-rewrite': { uri: '/x' },
  'response-rewrite': { status_code: 200 },
  'file-logger': { path: 'logs/audit.log' },
  'http-logger': { uri: 'http://127.0.0.1:9/log' },
  'tcp-logger': { host: '127.0.0.1', port: 9 },
  'udp-logger': { host: '127.0.0.1', port: 9 },
  syslog: { host: '127.0.0.1', port: 514 },
  'loki-logger': { endpoint_addrs: ['http://127.0.0.1:3100'] },
  'elasticsearch-logger': { endpoint_addrs: ['http://127.0.0.1:9200'], field: { index: 'logs' } },
  'serverless-pre-function': { functions: ['() => {}'] },
  'serverless-post-function': { functions: ['() => {}'] },
  'openid-connect': { client_id: 'c', client_secret: 's', discovery: 'https://idp.example/.well-known/openid-configuration', session: { secret: 'x'.repeat(16) } },
};

/** APISIX 3.x fields of that plugin Gatehouse does not build. */
const KEEPALIVE = { redis_keepalive_timeout: 10_000, redis_keepalive_pool: 100 };
const NO_EXTRA = { log_format_extra: { extra: '$host' } };
const UNBUILT: Record<string, Record<string, unknown>> = {
  'tcp-logger': NO_EXTRA,
  'udp-logger': NO_EXTRA,
  syslog: NO_EXTRA,
  'loki-logger': NO_EXTRA,
  'elasticsearch-logger': NO_EXTRA,
  'limit-count': { rules: [{ count: 1, time_window: 1, key: '$remote_addr' }], sync_interval: -1, ...KEEPALIVE },
  'limit-req': KEEPALIVE,
  'limit-conn': { rules: [{ conn: 1, burst: 0, key: '$remote_addr' }], redis_prefix: 'limit_conn', ...KEEPALIVE },
  'openid-connect': {
    par: { enabled: true }, dpop: { enabled: false }, client_rsa_private_key: 'pem',
    client_jwt_assertion_alg: 'RS256', claim_schema: {}, introspection_interval: 60, use_nonce: true, revoke_tokens_on_logout: true,
    force_reauthorize: true, refresh_session_interval: 60, accept_none_alg: false, cache_segment: 'x',
  },
};

const registry = PluginRegistry.load({ whitelist: Object.keys(VALID) });

async function refusal(name: string, conf: Record<string, unknown>): Promise<string | undefined> {
  try {
    (await registry).checkInstance(name, structuredClone(conf));
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

for (const name of Object.keys(VALID)) {
  test(`${name}: an unknown field is refused naming it; _meta is still accepted`, async () => {
    assert.equal(await refusal(name, { ...VALID[name], _meta: { disable: false } }), undefined);
    assert.match(String(await refusal(name, { ...VALID[name], no_such_field: 1 })),
      new RegExp(`plugin ${name} err: additional properties forbidden, found no_such_field`));
  });
}

for (const [name, fields] of Object.entries(UNBUILT)) {
  test(`${name}: APISIX fields that are not built are refused by name`, async () => {
    for (const [field, value] of Object.entries(fields)) {
      assert.match(String(await refusal(name, { ...VALID[name], [field]: value })),
        new RegExp(`additional properties forbidden, found ${field}`), field);
    }
  });
}

/** Plugin metadata: an unknown field (APISIX's loggers' `max_pending_entries`, a typo) is refused by name. */
const METADATA_FIELDS: Record<string, string> = {
  'limit-count': 'limit_headers',
  prometheus: 'disabled_label',
  'file-logger': 'max_pending_entries',
  'http-logger': 'max_pending_entries',
  'tcp-logger': 'max_pending_entries',
  'udp-logger': 'max_pending_entries',
  syslog: 'max_pending_entries',
  'loki-logger': 'log_format_extra',
  'elasticsearch-logger': 'max_pending_entries',
};

for (const [name, field] of Object.entries(METADATA_FIELDS)) {
  test(`${name}: plugin metadata refuses an unknown field by name`, async () => {
    const reg = await registry;
    assert.doesNotThrow(() => reg.checkMetadata(name, {}));
    assert.throws(() => reg.checkMetadata(name, { [field]: 1 }),
      new RegExp(`invalid configuration: additional properties forbidden, found ${field}`));
  });
}
