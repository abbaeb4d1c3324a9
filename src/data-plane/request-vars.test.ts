import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpRequest } from './http1/request.js';
import { RequestVars, type RequestFacts } from './request-vars.js';
import { REQUEST_VARIABLES, isKnownVariable, registerMatchTimeVariable } from '../core/expr/variables.js';
import type { MatchTimeResolver } from '../contracts/plugin.js';
import { rememberProxyAddresses } from './http1/proxy-protocol.js';

function request(over: Partial<HttpRequest> & { headers?: Record<string, string> } = {}, socket: object = {}): HttpRequest {
  return {
    method: 'GET', url: '/a/b?x=1&x=2&y=', httpVersion: '1.1', headers: { host: 'Example.com:8080' }, rawHeaders: [],
    socket: { remotePort: 50000, localAddress: '127.0.0.1', ...socket }, remoteAddr: '10.0.0.9', localPort: 9080,
    connectionSerial: 3, connectionRequests: 2, connectionAcceptedAt: Date.now() - 1500, complete: true, body: null,
    ...over,
  } as unknown as HttpRequest;
}

function vars(req: HttpRequest, over: Partial<RequestFacts> = {}): RequestVars {
  const q = req.url.indexOf('?');
  return new RequestVars({
    req, path: q === -1 ? req.url : req.url.slice(0, q), query: q === -1 ? '' : req.url.slice(q + 1),
    host: 'example.com', remoteAddr: '10.0.0.9', serverPort: 9080, scheme: 'http', ...over,
  });
}

const tlsSocket = {
  encrypted: true, servername: 'api.test', getProtocol: () => 'TLSv1.3',
  getCipher: () => ({ name: 'TLS_AES_128_GCM_SHA256', standardName: 'TLS_AES_128_GCM_SHA256', version: 'TLSv1.3' }),
  isSessionReused: () => false,
};

test('every registered request variable resolves for a request that has what it reads', () => {
  const req = request({
    method: 'POST', url: '/g?query=x',
    headers: {
      host: 'h', 'content-type': 'application/json', 'content-length': '40', cookie: 'a=1',
      authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}`,
    },
  }, tlsSocket);
  const v = vars(req, {
    scheme: 'https', routeId: 'r1', routeName: 'route one', serviceId: 's1', serviceName: 'svc', consumerName: 'alice',
  });
  v.body = Buffer.from(JSON.stringify({ query: 'mutation M { a b }' }));
  v.set('consumer_group_id', 'g1');
  rememberProxyAddresses(req.socket, { sourceAddr: '203.0.113.7', sourcePort: 5000, destAddr: '10.0.0.1', destPort: 443 });
  const missing = REQUEST_VARIABLES.filter((name) => v.get(name) === undefined);
  assert.deepEqual(missing, []);
});

test('proxy_protocol_* read the PROXY header of the connection, nil without one', () => {
  const req = request();
  assert.equal(vars(req).get('proxy_protocol_addr'), undefined);
  rememberProxyAddresses(req.socket, { sourceAddr: '2001:db8::7', sourcePort: 5000, destAddr: '2001:db8::1', destPort: 443 });
  const v = vars(req);
  assert.deepEqual(['proxy_protocol_addr', 'proxy_protocol_port', 'proxy_protocol_server_addr', 'proxy_protocol_server_port'].map((n) => v.get(n)),
    ['2001:db8::7', 5000, '2001:db8::1', 443]);
});

test('request line variables', () => {
  const v = vars(request());
  assert.equal(v.get('request_line'), 'GET /a/b?x=1&x=2&y= HTTP/1.1');
  assert.equal(v.get('request'), 'GET /a/b?x=1&x=2&y= HTTP/1.1');
  assert.equal(v.get('document_uri'), '/a/b');
  assert.equal(v.get('uri'), '/a/b');
  assert.equal(v.get('request_uri'), '/a/b?x=1&x=2&y=');
  assert.equal(v.get('args'), 'x=1&x=2&y=');
  assert.equal(v.get('query_string'), 'x=1&x=2&y=');
  assert.equal(v.get('is_args'), '?');
  assert.equal(v.get('arg_x'), '1');
  assert.equal(v.get('arg_y'), '');
  assert.equal(v.get('arg_z'), undefined);
  assert.equal(vars(request({ url: '/p' })).get('is_args'), '');
  assert.equal(v.get('server_protocol'), 'HTTP/1.1');
  assert.equal(v.get('https'), '');
  assert.equal(v.get('http_host'), 'Example.com:8080');
  assert.equal(v.get('host'), 'example.com');
  assert.equal(v.get('HTTP_HOST'), undefined); // names are case-sensitive, as nginx's are
});

test('connection, addresses and clock variables', () => {
  const v = vars(request());
  assert.equal(v.get('connection'), 3);
  assert.equal(v.get('connection_requests'), 2);
  assert.ok((v.get('connection_time') as number) >= 1.5);
  assert.equal(v.get('realip_remote_addr'), '10.0.0.9');
  assert.equal(v.get('remote_port'), 50000);
  assert.equal(v.get('server_addr'), '127.0.0.1');
  assert.equal(v.get('binary_remote_addr'), '\x0a\x00\x00\x09');
  assert.equal(vars(request(), { remoteAddr: '::1' }).get('binary_remote_addr'), '\0'.repeat(15) + '\x01');
  assert.equal(v.get('pid'), process.pid);
  assert.match(String(v.get('time_iso8601')), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
  assert.equal(typeof v.get('msec'), 'number');
  const id = v.get('request_id');
  assert.match(String(id), /^[0-9a-f]{32}$/);
  assert.equal(v.get('request_id'), id, 'one id per request');
  assert.notEqual(vars(request()).get('request_id'), id);
});

test('TLS variables on an HTTPS connection, nil on plain HTTP', () => {
  const v = vars(request({}, tlsSocket), { scheme: 'https' });
  assert.equal(v.get('https'), 'on');
  assert.equal(v.get('ssl_server_name'), 'api.test');
  assert.equal(v.get('ssl_protocol'), 'TLSv1.3');
  assert.equal(v.get('ssl_cipher'), 'TLS_AES_128_GCM_SHA256');
  assert.equal(v.get('ssl_session_reused'), '.');
  assert.equal(v.get('ssl_client_verify'), 'NONE');
  const plain = vars(request());
  for (const name of ['ssl_server_name', 'ssl_protocol', 'ssl_cipher', 'ssl_client_verify']) assert.equal(plain.get(name), undefined, name);
});

test('remote_user is the user of Basic credentials', () => {
  const auth = `Basic ${Buffer.from('bob:secret').toString('base64')}`;
  assert.equal(vars(request({ headers: { host: 'h', authorization: auth } })).get('remote_user'), 'bob');
  assert.equal(vars(request({ headers: { host: 'h', authorization: 'Bearer x' } })).get('remote_user'), undefined);
});

test('body variables are nil until the body was read, then read it', () => {
  const req = request({ method: 'POST', headers: { host: 'h', 'content-type': 'application/x-www-form-urlencoded' } });
  const v = vars(req);
  assert.equal(v.get('post_arg_name'), undefined);
  assert.equal(v.get('request_body'), undefined);
  v.body = Buffer.from('name=alice&name=bob&a.b=dotted&empty=');
  assert.equal(v.get('request_body'), 'name=alice&name=bob&a.b=dotted&empty=');
  assert.equal(v.get('post_arg_name'), 'alice');
  assert.equal(v.get('post_arg_empty'), '');
  assert.equal(v.get('post_arg.a.b'), 'dotted');
  assert.equal(v.get('post_arg_missing'), undefined);
});

test('post_arg_ and post_arg. read JSON bodies (fields, nested paths, array indexes)', () => {
  const v = vars(request({ method: 'POST', headers: { host: 'h', 'content-type': 'application/json; charset=utf-8' } }));
  v.body = Buffer.from(JSON.stringify({ model: 'gpt', n: 2, user: { id: 7, tags: ['a', 'b'] } }));
  assert.equal(v.get('post_arg_model'), 'gpt');
  assert.equal(v.get('post_arg_n'), 2);
  assert.equal(v.get('post_arg.user.id'), 7);
  assert.equal(v.get('post_arg.user.tags.1'), 'b');
  assert.equal(v.get('post_arg.user.tags.x'), undefined);
  assert.equal(v.get('post_arg.nope.deeper'), undefined);
  assert.equal(v.get('post_arg_toString'), undefined);
  const broken = vars(request({ method: 'POST', headers: { host: 'h', 'content-type': 'application/json' } }));
  broken.body = Buffer.from('{not json');
  assert.equal(broken.get('post_arg_model'), undefined);
  const other = vars(request({ method: 'POST', headers: { host: 'h', 'content-type': 'text/plain' } }));
  other.body = Buffer.from('model=x');
  assert.equal(other.get('post_arg_model'), undefined);
});

test('graphql variables from a GET query argument, an application/graphql body and a JSON body', () => {
  const get = vars(request({ url: `/graphql?query=${encodeURIComponent('query Persons { persons { id } owner: user { name } }')}` }));
  assert.equal(get.get('graphql_operation'), 'query');
  assert.equal(get.get('graphql_name'), 'Persons');
  assert.deepEqual(get.get('graphql_root_fields'), ['persons', 'user']);

  const raw = vars(request({ method: 'POST', url: '/graphql', headers: { host: 'h', 'content-type': 'application/graphql' } }));
  raw.body = Buffer.from('mutation AddUser($n: String) { addUser(name: $n) { id } }');
  assert.equal(raw.get('graphql_operation'), 'mutation');
  assert.equal(raw.get('graphql_name'), 'AddUser');
  assert.deepEqual(raw.get('graphql_root_fields'), ['addUser']);

  const json = vars(request({ method: 'POST', url: '/graphql', headers: { host: 'h', 'content-type': 'application/json' } }));
  assert.equal(json.get('graphql_operation'), undefined, 'no body read yet');
  json.body = Buffer.from(JSON.stringify({ query: '{ hero { name } droid { id } }' }));
  assert.equal(json.get('graphql_operation'), 'query');
  assert.equal(json.get('graphql_name'), undefined);
  assert.deepEqual(json.get('graphql_root_fields'), ['hero', 'droid']);

  const bad = vars(request({ url: '/graphql?query=%7B%20unclosed' }));
  assert.equal(bad.get('graphql_operation'), undefined);
});

test('the names the resolver answers are the registry\'s', () => {
  for (const name of REQUEST_VARIABLES) assert.ok(isKnownVariable(name), name);
});

test('a match-time variable resolves through its plugin\'s resolver, once per request, until a plugin sets it', () => {
  registerMatchTimeVariable('place_for_test', 'place-plugin');
  registerMatchTimeVariable('other_place_for_test', 'place-plugin');
  let lookups = 0;
  const key = {};
  const resolver: MatchTimeResolver = (name, r) => {
    const found = r.memo(key, () => { lookups++; return `${String(r.get('remote_addr'))} via ${r.header('x-forwarded-for') ?? '-'}`; });
    return name === 'place_for_test' ? found : undefined;
  };
  const req = request({ headers: { host: 'h', 'x-forwarded-for': '1.2.3.4' } });
  const q = req.url.indexOf('?');
  const v = new RequestVars({ req, path: req.url.slice(0, q), query: req.url.slice(q + 1), host: 'h', remoteAddr: '10.0.0.9', serverPort: 9080, scheme: 'http' },
    new Map([['place-plugin', resolver]]));
  assert.equal(v.get('place_for_test'), '10.0.0.9 via 1.2.3.4');
  assert.equal(v.get('other_place_for_test'), undefined);
  assert.equal(v.get('place_for_test'), '10.0.0.9 via 1.2.3.4');
  assert.equal(lookups, 1, 'one lookup for the request');
  v.set('place_for_test', undefined);
  assert.equal(v.get('place_for_test'), undefined, 'a plugin\'s value (even nil) wins');
  assert.equal(vars(request()).get('place_for_test'), undefined, 'nil without a resolver (no metadata)');
});
