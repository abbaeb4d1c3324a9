import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKnownVariable, registerVariable } from './variables.js';

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
