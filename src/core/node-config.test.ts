import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isGatehouseError } from './errors.js';
import { loadNodeConfig, parseNodeConfig, substituteEnv } from './node-config.js';

const FILE = '/etc/gatehouse/config.yaml';

function refuses(text: string, message: string): void {
  assert.throws(() => parseNodeConfig(text, 'conf/config.yaml'), (e: unknown) => {
    assert.ok(isGatehouseError(e, 'GH_ERR_CONFIG_INVALID'));
    assert.equal((e as Error).message, `conf/config.yaml: ${message}`);
    return true;
  });
}

describe('parseNodeConfig', () => {
  it('fills every default for an empty file', () => {
    const c = parseNodeConfig('', FILE);
    assert.equal(c.file, FILE);
    assert.deepEqual(c.node.listen, [{ host: '0.0.0.0', port: 9080 }, { host: '0.0.0.0', port: 9443, tls: true }]);
    assert.ok(Number.isInteger(c.node.workers) && c.node.workers >= 1);
    assert.equal(c.node.drain_timeout, 30);
    assert.deepEqual(c.node.client, {
      max_header_size: 32768, max_body_size: 0, header_timeout: 30, keepalive_timeout: 60, request_timeout: 0,
    });
    assert.deepEqual(c.node.tls, { protocols: ['TLSv1.2', 'TLSv1.3'], handshake_timeout: 10 });
    assert.deepEqual(c.node.http2, {
      enabled: true, max_concurrent_streams: 128, max_header_list_size: 32768, initial_window_size: 65535, max_frame_size: 16384,
      max_session_memory: 10, max_client_resets: 200, max_control_frames: 1000, abuse_window: 10,
    });
    assert.deepEqual(c.admin, { listen: { host: '127.0.0.1', port: 9180 }, keys: [], allow: ['127.0.0.0/8', '::1/128'] });
    assert.equal(c.status, undefined);
    assert.equal(c.store.type, 'sqlite');
    assert.deepEqual(c.store.etcd, { endpoints: ['http://127.0.0.1:2379'], prefix: '/gatehouse', timeout: 30 });
    assert.equal(c.plugins, undefined);
    assert.equal(c.log.level, 'info');
  });

  it('resolves relative paths against the config file folder', () => {
    const c = parseNodeConfig('store: {sqlite: {path: db/x.db}, standalone: {file: /abs/g.yaml}}\n', FILE);
    assert.equal(c.store.sqlite.path, '/etc/gatehouse/db/x.db');
    assert.equal(c.store.standalone.file, '/abs/g.yaml');
    assert.equal(c.data_dir, '/etc/gatehouse/data');
  });

  it('takes explicit values, port shorthands and a fixed worker count', () => {
    const c = parseNodeConfig([
      'node:',
      '  listen: [8080, {host: 127.0.0.1, port: 0, tls: true}]',
      '  workers: 3',
      'admin:',
      '  keys: [{name: ops, key: secret, role: viewer}, {name: root, key: s2}]',
      'status: {listen: {host: 127.0.0.1, port: 7085}}',
      'plugins: [key-auth, cors]',
      'log: {level: debug}',
    ].join('\n'), FILE);
    assert.deepEqual(c.node.listen, [{ host: '0.0.0.0', port: 8080 }, { host: '127.0.0.1', port: 0, tls: true }]);
    assert.equal(c.node.workers, 3);
    assert.deepEqual(c.admin.keys, [{ name: 'ops', key: 'secret', role: 'viewer' }, { name: 'root', key: 's2', role: 'admin' }]);
    assert.deepEqual(c.status, { listen: { host: '127.0.0.1', port: 7085 } });
    assert.deepEqual(c.plugins, ['key-auth', 'cors']);
    assert.equal(c.log.level, 'debug');
  });

  it('examples.echo_upstream and log.format: off / auto by default, checked like every key', () => {
    const d = parseNodeConfig('', FILE);
    assert.deepEqual(d.examples, {});
    assert.equal(d.log.format, 'auto');
    const c = parseNodeConfig('examples: {echo_upstream: {listen: {port: 1980}}}\nlog: {format: pretty}\n', FILE);
    assert.deepEqual(c.examples.echo_upstream, { listen: { host: '127.0.0.1', port: 1980 } });
    assert.equal(c.log.format, 'pretty');
    refuses('log: {format: colour}\n', 'log.format: must be one of auto, json, pretty');
    refuses('examples: {echo: {}}\n', 'unknown key "examples.echo"');
    refuses('examples: {echo_upstream: {}}\n', 'examples.echo_upstream.listen: is required');
    refuses('examples: {echo_upstream: {listen: {port: 1980, tls: true}}}\n', 'unknown key "examples.echo_upstream.listen.tls"');
    refuses('examples: {echo_upstream: {listen: {port: 9180}}}\n',
      'examples.echo_upstream.listen: 127.0.0.1:9180 is already used by admin.listen');
  });

  it('refuses unknown keys by their full path', () => {
    refuses('node:\n  lisen: []\n', 'unknown key "node.lisen"');
    refuses('colour: blue\n', 'unknown key "colour"');
    refuses('node: {listen: [{port: 1, tsl: true}]}\n', 'unknown key "node.listen[0].tsl"');
    refuses('admin: {listen: {port: 9181, proxy_protocol: true}}\n', 'unknown key "admin.listen.proxy_protocol"');
    refuses('node: {listen: [{port: 1, proxy_protocol: yes please}]}\n', 'node.listen: must be a list of {host, port, tls, proxy_protocol} (or port numbers)');
  });

  it('refuses wrong values with a message naming the key', () => {
    refuses('node: {workers: 0}\n', 'node.workers: must be "auto" or an integer >= 1');
    refuses('node: {http2: {max_concurrent_streams: 0}}\n', 'node.http2.max_concurrent_streams: must be an integer from 1 to 10000');
    refuses('node: {workers: many}\n', 'node.workers: must be "auto" or an integer >= 1');
    refuses('node: {listen: [{port: 70000}]}\n', 'node.listen[0].port: must be an integer from 0 to 65535');
    refuses('node: {listen: [x]}\n', 'node.listen: must be a list of {host, port, tls, proxy_protocol} (or port numbers)');
    refuses('node: {client: {max_body_size: -1}}\n', 'node.client.max_body_size: must be an integer >= 0 (bytes; 0 = unlimited)');
    refuses('admin: {keys: [{name: a}]}\n', 'admin.keys[0].key: is required');
    refuses('admin: {allow: [10.0.0.0/33]}\n', 'admin.allow[0]: "10.0.0.0/33" is not an IP address or CIDR');
    refuses('store: {type: mysql}\n', 'store.type: must be one of sqlite, standalone, etcd');
    refuses('node: 5\n', 'node: must be a mapping');
    refuses('- a\n', 'must be a mapping of settings');
    refuses('node: [\n', 'invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1');
  });

  it('takes proxy_protocol on data-plane listeners', () => {
    const c = parseNodeConfig('node: {listen: [{host: 0.0.0.0, port: 9181, proxy_protocol: true}, {host: 0.0.0.0, port: 9182, tls: true, proxy_protocol: true}]}\n', FILE);
    assert.deepEqual(c.node.listen, [
      { host: '0.0.0.0', port: 9181, proxy_protocol: true }, { host: '0.0.0.0', port: 9182, tls: true, proxy_protocol: true },
    ]);
  });

  it('binds admin and status listeners given only a port to loopback', () => {
    const c = parseNodeConfig('admin: {listen: {port: 9181}}\nstatus: {listen: {port: 7085}}\n', FILE);
    assert.deepEqual(c.admin.listen, { host: '127.0.0.1', port: 9181 });
    assert.deepEqual(c.status?.listen, { host: '127.0.0.1', port: 7085 });
  });

  it('log_dir defaults to <data_dir>/logs and resolves against the config file folder', () => {
    assert.equal(parseNodeConfig('', FILE).log_dir, '/etc/gatehouse/data/logs');
    assert.equal(parseNodeConfig('data_dir: /var/lib/gh\n', FILE).log_dir, '/var/lib/gh/logs');
    assert.equal(parseNodeConfig('log_dir: ../logs\n', FILE).log_dir, '/etc/logs');
    refuses('log_dir: ""\n', 'log_dir: must NOT have fewer than 1 characters');
  });

  it('bounds what plugins buffer with node.max_buffered_body_size (8 MiB by default)', () => {
    assert.equal(parseNodeConfig('', FILE).node.max_buffered_body_size, 8388608);
    assert.equal(parseNodeConfig('node: {max_buffered_body_size: 65536}\n', FILE).node.max_buffered_body_size, 65536);
    refuses('node: {max_buffered_body_size: 10}\n', 'node.max_buffered_body_size: must be an integer >= 1024 (bytes)');
  });

  it('plugin_overrides is a list of distinct names, empty by default', () => {
    assert.deepEqual(parseNodeConfig('', FILE).plugin_overrides, []);
    assert.deepEqual(parseNodeConfig('plugin_overrides: [cors]\n', FILE).plugin_overrides, ['cors']);
    refuses('plugin_overrides: cors\n', 'plugin_overrides: must be a list of distinct built-in plugin names a plugin_dirs module may replace');
  });

  it('reads store.etcd credentials and TLS files (relative to the config file) and checks them together', () => {
    const c = parseNodeConfig(`store:
  type: etcd
  etcd:
    endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]
    user: gatehouse
    password: s3cret
    tls: {ca: certs/ca.pem, cert: /pki/client.pem, key: /pki/client-key.pem}
    timeout: 5
`, FILE);
    assert.deepEqual(c.store.etcd, {
      endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'], prefix: '/gatehouse', user: 'gatehouse', password: 's3cret',
      tls: { ca: '/etc/gatehouse/certs/ca.pem', cert: '/pki/client.pem', key: '/pki/client-key.pem', verify: true }, timeout: 5,
    });
    refuses('store: {etcd: {endpoints: [127.0.0.1:2379]}}\n', 'store.etcd.endpoints[0]: must be an http:// or https:// URL');
    refuses('store: {etcd: {endpoints: []}}\n', 'store.etcd.endpoints: must be a non-empty list of http(s):// URLs');
    refuses('store: {etcd: {password: x}}\n', 'store.etcd.password: is set without store.etcd.user');
    refuses('store: {etcd: {user: ""}}\n', 'store.etcd.user: must be a non-empty string');
    refuses('store: {etcd: {tls: {verify: false}}}\n', 'store.etcd.endpoints[0]: must be an https:// URL when store.etcd.tls is set');
    refuses('store: {etcd: {endpoints: [https://e:2379], tls: {cert: c.pem}}}\n', 'store.etcd.tls: cert and key must be set together');
    refuses('store: {etcd: {endpoints: [https://e:2379], tls: {ca: a.pem, verfy: false}}}\n', 'unknown key "store.etcd.tls.verfy"');
    refuses('store: {etcd: {timeout: 0}}\n', 'store.etcd.timeout: must be a number of seconds > 0');
  });

  it('refuses two listeners on the same address', () => {
    refuses('node: {listen: [9180]}\nadmin: {listen: {host: 0.0.0.0, port: 9180}}\n',
      'admin.listen: 0.0.0.0:9180 is already used by node.listen[0]');
  });
});

describe('substituteEnv', () => {
  it('replaces variables and defaults, and leaves comment lines alone', () => {
    const env = { PORT: '8081' };
    assert.equal(substituteEnv('port: ${{PORT}}\nhost: ${{ HOST:=0.0.0.0 }}\n# ${{UNSET}}\n', env),
      'port: 8081\nhost: 0.0.0.0\n# ${{UNSET}}\n');
    assert.throws(() => substituteEnv('a: ${{UNSET}}', env), /can't find environment variable UNSET/);
  });
});

describe('loadNodeConfig', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-nodeconf-')); });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads the file and records its absolute path', async () => {
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, 'store: {type: standalone}\n');
    const c = await loadNodeConfig(file);
    assert.equal(c.file, file);
    assert.equal(c.store.standalone.file, path.join(dir, 'gatehouse.yaml'));
  });

  it('names the file it cannot read', async () => {
    await assert.rejects(loadNodeConfig(path.join(dir, 'missing.yaml')), /missing\.yaml: cannot read/);
  });
});

describe('prometheus export settings', () => {
  it('defaults to enabled on 127.0.0.1:9091 (APISIX\'s export address)', () => {
    const c = parseNodeConfig('', FILE);
    assert.deepEqual(c.prometheus, { enabled: true, export: { listen: { host: '127.0.0.1', port: 9091 } }, plugin_cost_sample: 8 });
  });

  it('takes a port alone, refuses unknown keys and clashes with another listener', () => {
    assert.deepEqual(parseNodeConfig('prometheus: {export: {listen: {port: 0}}}\n', FILE).prometheus.export.listen, { host: '127.0.0.1', port: 0 });
    refuses('prometheus: {export: {lisen: {port: 1}}}\n', 'unknown key "prometheus.export.lisen"');
    assert.equal(parseNodeConfig('prometheus: {plugin_cost_sample: 1}\n', FILE).prometheus.plugin_cost_sample, 1);
    refuses('prometheus: {plugin_cost_sample: 0}\n', 'prometheus.plugin_cost_sample: must be an integer from 1 to 1024 (1 = time every request)');
    refuses('admin: {listen: {port: 9091}}\n', 'prometheus.export.listen: 127.0.0.1:9091 is already used by admin.listen');
    // disabled: its port is free for others
    assert.equal(parseNodeConfig('admin: {listen: {port: 9091}}\nprometheus: {enabled: false}\n', FILE).prometheus.enabled, false);
  });
});

describe('router.http (APISIX apisix.router.http)', () => {
  it('defaults to radixtree_host_uri and takes the three APISIX modes', () => {
    assert.equal(parseNodeConfig('', FILE).router.http, 'radixtree_host_uri');
    for (const mode of ['radixtree_host_uri', 'radixtree_uri', 'radixtree_uri_with_parameter']) {
      assert.equal(parseNodeConfig(`router: {http: ${mode}}\n`, FILE).router.http, mode);
    }
  });

  it('refuses any other value, naming router.http', () => {
    refuses('router: {http: radixtree_host}\n', 'router.http: must be one of radixtree_host_uri, radixtree_uri, radixtree_uri_with_parameter');
    refuses('router: {ssl: radixtree_sni}\n', 'unknown key "router.ssl"');
  });
});

describe('serverless', () => {
  it('defaults to a 64 MB isolate and a 200 ms deadline, and refuses values out of range naming the key', () => {
    assert.deepEqual(parseNodeConfig('', FILE).serverless, { memory_limit_mb: 64, timeout_ms: 200 });
    assert.deepEqual(parseNodeConfig('serverless: {memory_limit_mb: 16, timeout_ms: 50}\n', FILE).serverless, { memory_limit_mb: 16, timeout_ms: 50 });
    refuses('serverless: {memory_limit_mb: 4}\n', 'serverless.memory_limit_mb: must be an integer from 8 to 4096 (MB)');
    refuses('serverless: {timeout_ms: 0}\n', 'serverless.timeout_ms: must be an integer from 1 to 60000 (ms)');
    refuses('serverless: {timeout: 1}\n', 'unknown key "serverless.timeout"');
  });
});
