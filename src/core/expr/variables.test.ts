import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BODY_VARIABLE_PREFIXES, BODY_VARIABLES, checkRouteVariable, checkVariables, isBodyVariable, isKnownVariable, isResponseVariable,
  matchTimeOwnerOf, registerMatchTimeVariable, registerVariable,
} from './variables.js';

test('nginx and gateway variable names are known', () => {
  for (const name of ['uri', 'request_uri', 'host', 'request_method', 'method', 'scheme', 'remote_addr', 'remote_port',
    'server_addr', 'server_port', 'args', 'is_args', 'query_string', 'http_host', 'route_id', 'route_name', 'service_id',
    'service_name', 'consumer_name', 'consumer_group_id', 'request_id', 'status', 'upstream_status', 'upstream_addr',
    'request_time', 'time_iso8601', 'balancer_ip', 'balancer_port', 'content_type', 'content_length', 'server_protocol',
    'request_length', 'bytes_sent', 'body_bytes_sent', 'upstream_response_time', 'upstream_uri', 'upstream_host',
    'upstream_scheme', 'graphql_root_fields', 'real_request_uri']) {
    assert.equal(isKnownVariable(name), true, name);
  }
});

test('prefixed families are known when something follows the prefix', () => {
  for (const name of ['arg_page', 'http_x_api_key', 'cookie_session', 'post_arg_name', 'post_arg.user.id',
    'uri_param_id', 'sent_http_content_type', 'upstream_http_x_cache']) {
    assert.equal(isKnownVariable(name), true, name);
  }
  for (const name of ['arg_', 'http_', 'cookie_', 'post_arg.', 'uri_param_']) assert.equal(isKnownVariable(name), false, name);
});

test('misspelt and empty names are unknown', () => {
  for (const name of ['foo', 'url', 'remote_address', 'Uri', 'args_x', 'header_x', '']) {
    assert.equal(isKnownVariable(name), false, name);
  }
});

test('a plugin can register its own variable', () => {
  assert.equal(isKnownVariable('my_plugin_var_for_test'), false);
  registerVariable('my_plugin_var_for_test');
  assert.equal(isKnownVariable('my_plugin_var_for_test'), true);
});

test('route vars refuse plugin-set variables, except those a plugin resolves when routes are matched', () => {
  registerVariable('set_later_for_test');
  assert.match(String(checkRouteVariable('set_later_for_test')), /set by a plugin, after routes are matched/);
  registerMatchTimeVariable('resolved_early_for_test', 'early-plugin');
  assert.equal(isKnownVariable('resolved_early_for_test'), true);
  assert.equal(checkRouteVariable('resolved_early_for_test'), true);
  assert.equal(matchTimeOwnerOf('resolved_early_for_test'), 'early-plugin');
  assert.equal(matchTimeOwnerOf('set_later_for_test'), undefined);
  assert.equal(matchTimeOwnerOf('uri'), undefined);
});

test('nginx variables without an honest value here are refused, not nil forever', () => {
  for (const name of ['nginx_version', 'request_body_file', 'ssl_client_s_dn', 'upstream_cache_status',
    'upstream_connect_time', 'upstream_bytes_received', 'dubbo_method', 'llm_model', 'upstream_trailer_x', 'resp_body']) {
    assert.equal(isKnownVariable(name), false, name);
  }
});

test('post_arg. takes a dotted path, not JSONPath', () => {
  assert.equal(isKnownVariable('post_arg.a.b.0'), true);
  for (const name of ['post_arg.a[0]', 'post_arg.*', 'post_arg.a..b', 'post_arg.$.a', 'post_arg.a.']) assert.equal(isKnownVariable(name), false, name);
});

test('body variables and response variables are told apart for the lifecycle and the route checks', () => {
  for (const name of ['request_body', 'post_arg_x', 'post_arg.a.b', 'graphql_name', 'graphql_operation', 'graphql_root_fields']) {
    assert.equal(isBodyVariable(name), true, name);
  }
  for (const name of ['arg_x', 'http_x', 'uri', 'post_arg_']) assert.equal(isBodyVariable(name), false, name);
  for (const name of ['status', 'upstream_status', 'upstream_http_x', 'sent_http_x', 'bytes_sent']) assert.equal(isResponseVariable(name), true, name);
  for (const name of ['uri', 'arg_x', 'route_id']) assert.equal(isResponseVariable(name), false, name);
  assert.deepEqual([...BODY_VARIABLES].sort(), ['graphql_name', 'graphql_operation', 'graphql_root_fields', 'request_body']);
  assert.deepEqual([...BODY_VARIABLE_PREFIXES], ['post_arg_', 'post_arg.']);
});

test('checkVariables names the field and the first unknown variable', () => {
  checkVariables(['uri', 'arg_x'], 'log_format.a');
  assert.throws(() => checkVariables(['uri', 'remote_adr'], 'log_format.client'), { message: "log_format.client: unknown variable '$remote_adr'" });
});
