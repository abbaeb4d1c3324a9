import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareWith } from '../../test/helpers/plugin-context.js';
import proxyRewrite from './proxy-rewrite.js';
import redirect from './redirect.js';
import responseRewrite from './response-rewrite.js';
import faultInjection from './fault-injection.js';
import limitCount from './limit-count.js';
import limitReq from './limit-req.js';
import limitConn from './limit-conn.js';
import fileLogger from './file-logger.js';
import httpLogger from './http-logger.js';
import tcpLogger from './tcp-logger.js';
import udpLogger from './udp-logger.js';
import syslog from './syslog.js';
import lokiLogger from './loki-logger.js';
import esLogger from './elasticsearch-logger.js';
import { PluginRegistry } from '../plugin-runtime/registry.js';
import type { Plugin } from '../contracts/plugin.js';

// Every plugin field that names request variables refuses one that does not exist when
// the config is written (prepare throws), naming the field and the variable.

test('proxy-rewrite: uri and header templates', () => {
  assert.ok(prepareWith(proxyRewrite, { uri: '/x/$arg_id', headers: { set: { 'X-Id': '$uri_param_id', 'X-Cap': '$1' } } }));
  assert.throws(() => prepareWith(proxyRewrite, { uri: '/x/$arg_id$requst_uri' }), { message: "uri: unknown variable '$requst_uri'" });
  assert.throws(() => prepareWith(proxyRewrite, { headers: { set: { 'X-A': 'v=${remote_adr}' } } }), { message: "headers.set.X-A: unknown variable '$remote_adr'" });
  assert.throws(() => prepareWith(proxyRewrite, { headers: { add: { 'X-B': '$nope' } } }), { message: "headers.add.X-B: unknown variable '$nope'" });
  assert.throws(() => prepareWith(proxyRewrite, { headers: { 'X-C': '$nope' } }), { message: "headers.X-C: unknown variable '$nope'" });
});

test('redirect: uri template', () => {
  assert.ok(prepareWith(redirect, { uri: 'https://$host$request_uri' }));
  assert.throws(() => prepareWith(redirect, { uri: '/to/$hots' }), { message: "uri: unknown variable '$hots'" });
});

test('response-rewrite: header templates (vars were checked already)', () => {
  assert.ok(prepareWith(responseRewrite, { headers: { set: { 'X-Up': '$upstream_status' } } }));
  assert.throws(() => prepareWith(responseRewrite, { headers: { set: { 'X-Up': '$upstream_stat' } } }), { message: "headers.set.X-Up: unknown variable '$upstream_stat'" });
  assert.throws(() => prepareWith(responseRewrite, { headers: { add: ['X-A: $nope'] } }), { message: "headers.add.X-A: unknown variable '$nope'" });
});

test('fault-injection: abort header templates', () => {
  assert.throws(() => prepareWith(faultInjection, { abort: { http_status: 500, headers: { 'X-F': '$nope' } } }),
    { message: "abort.headers.X-F: unknown variable '$nope'" });
});

test('limit-count, limit-req, limit-conn: the key variable and var_combination templates', () => {
  const count = { count: 1, time_window: 60 };
  assert.ok(prepareWith(limitCount, { ...count, key: 'http_x_user' }));
  assert.throws(() => prepareWith(limitCount, { ...count, key: 'remote_adr' }), { message: "key: unknown variable '$remote_adr'" });
  assert.throws(() => prepareWith(limitCount, { ...count, key_type: 'var_combination', key: '$remote_addr $consumer' }),
    { message: "key: unknown variable '$consumer'" });
  assert.ok(prepareWith(limitCount, { ...count, key_type: 'constant', key: 'not a variable' }));
  assert.throws(() => prepareWith(limitReq, { rate: 1, burst: 0, key: 'nope' }), { message: "key: unknown variable '$nope'" });
  assert.throws(() => prepareWith(limitConn, { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'nope' }), { message: "key: unknown variable '$nope'" });
});

test('file-logger and http-logger: log_format, match, include_resp_body_expr', () => {
  assert.ok(prepareWith(fileLogger, { path: 'x.log', log_format: { a: '$upstream_http_x_cache', b: '$post_arg.user.id' } }));
  assert.throws(() => prepareWith(fileLogger, { path: 'x.log', log_format: { a: '$stauts' } }), { message: "log_format.a: unknown variable '$stauts'" });
  assert.throws(() => prepareWith(fileLogger, { path: 'x.log', match: [['stauts', '==', 200]] }),
    { message: "failed to validate the 'match' expression: unknown variable 'stauts'" });
  assert.throws(() => prepareWith(httpLogger, { uri: 'http://127.0.0.1/', log_format: { a: '$host $requst' } }),
    { message: "log_format.a: unknown variable '$requst'" });
});

test('the batched sinks: log_format and include_req_body_expr; loki\'s log_labels; elasticsearch\'s field.index', () => {
  const sinks: [Plugin, Record<string, unknown>][] = [
    [tcpLogger, { host: 'h', port: 1 }], [udpLogger, { host: 'h', port: 1 }], [syslog, { host: 'h', port: 1 }],
    [lokiLogger, { endpoint_addrs: ['http://l:3100'] }], [esLogger, { endpoint_addrs: ['http://e:9200'], field: { index: 'x' } }],
  ];
  for (const [plugin, base] of sinks) {
    assert.ok(prepareWith(plugin, { ...base, log_format: { a: '$upstream_status' } }), plugin.name);
    assert.throws(() => prepareWith(plugin, { ...base, log_format: { a: '$stauts' } }), { message: "log_format.a: unknown variable '$stauts'" }, plugin.name);
    assert.throws(() => prepareWith(plugin, { ...base, include_req_body: true, include_req_body_expr: [['arg_x', '==', 1], ['nope', '==', 1]] }),
      { message: "failed to validate the 'include_req_body_expr' expression: unknown variable 'nope'" }, plugin.name);
  }
  assert.throws(() => prepareWith(lokiLogger, { endpoint_addrs: ['http://l:3100'], log_labels: { a: '$nope' } }), { message: "log_labels.a: unknown variable '$nope'" });
  assert.throws(() => prepareWith(esLogger, { endpoint_addrs: ['http://e:9200'], field: { index: 'x-${nope}' } }), { message: "field.index: unknown variable '$nope'" });
});

test('plugin_metadata of a logger: a log_format with an unknown variable is refused when written', async () => {
  const reg = await PluginRegistry.load({ whitelist: ['file-logger', 'http-logger'] });
  reg.checkMetadata('http-logger', { id: 'http-logger', log_format: { host: '$host', at: '$time_iso8601' } });
  assert.throws(() => reg.checkMetadata('file-logger', { id: 'file-logger', log_format: { ip: '$remote_adr' } }),
    { message: "invalid configuration: log_format.ip: unknown variable '$remote_adr'" });
});
