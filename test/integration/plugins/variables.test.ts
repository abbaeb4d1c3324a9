import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';

// Variables APISIX documents, read through a real request: request-time ones in a
// proxy-rewrite header template, response and upstream ones in a file-logger log_format.

let gw: Gateway;
let up: TestUpstream;
let logFile: string;

function lines(): Record<string, unknown>[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

before(async () => {
  up = await startUpstream('vars-up');
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  gw = await startGateway({ config: {}, extra: { log_dir: '.' } });
  logFile = join(gw.dir, 'vars.log');
  await gw.writeConfig({
    routes: [
      {
        id: 'req-vars', name: 'request side', uri: '/req/*', upstream,
        plugins: {
          'proxy-rewrite': {
            headers: {
              set: {
                'X-Line': '$request_line', 'X-Doc': '$document_uri', 'X-Https': '[$https]', 'X-Conn': '$connection_requests',
                'X-Route': '$route_id/$route_name', 'X-Cookie': '$cookie_sid', 'X-Id': '$request_id', 'X-User': '$remote_user',
              },
            },
          },
        },
      },
      {
        id: 'log-vars', uri: '/log', upstream,
        plugins: {
          'file-logger': {
            path: 'vars.log',
            log_format: {
              tag: '$http_x_tag', upstream_type: '$upstream_http_content_type', upstream_name: '$upstream_http_x_upstream',
              upstream_status: '$upstream_status', upstream_host: '$upstream_host', upstream_uri: '$upstream_uri',
              upstream_scheme: '$upstream_scheme', header_time: '$upstream_header_time', length: '$upstream_response_length',
              balancer_port: '$balancer_port', completion: '$request_completion', matched_uri: '$matched_uri', line: '$request_line',
            },
          },
        },
      },
    ],
  });
  await eventually(async () => (await get(gw.url + '/log')).status === 200);
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

test('request-time variables reach a proxy-rewrite header template', async () => {
  const r = await get(`${gw.url}/req/a?x=1`, {
    headers: { cookie: 'a=1; sid=s3cr', authorization: `Basic ${Buffer.from('ann:pw').toString('base64')}` },
  });
  assert.equal(r.status, 200, r.body);
  const h = r.json().headers as Record<string, string>;
  assert.equal(h['x-line'], 'GET /req/a?x=1 HTTP/1.1');
  assert.equal(h['x-doc'], '/req/a');
  assert.equal(h['x-https'], '[]');
  assert.match(h['x-conn']!, /^\d+$/);
  assert.equal(h['x-route'], 'req-vars/request side');
  assert.equal(h['x-cookie'], 's3cr');
  assert.match(h['x-id']!, /^[0-9a-f]{32}$/);
  assert.equal(h['x-user'], 'ann');
});

test('upstream and response variables reach a log_format', async () => {
  assert.equal((await get(`${gw.url}/log?q=2`, { headers: { 'x-tag': 'vars-1' } })).status, 200);
  await eventually(() => lines().some((l) => l.tag === 'vars-1'));
  const line = lines().find((l) => l.tag === 'vars-1')!;
  assert.equal(line.upstream_type, 'application/json');
  assert.equal(line.upstream_name, 'vars-up');
  assert.equal(line.upstream_status, 200);
  assert.equal(line.upstream_host, `127.0.0.1:${gw.httpPort}`);
  assert.equal(line.upstream_uri, '/log?q=2');
  assert.equal(line.upstream_scheme, 'http');
  assert.equal(typeof line.header_time, 'number');
  assert.ok((line.length as number) > 0);
  assert.equal(line.balancer_port, up.port);
  assert.equal(line.completion, 'OK');
  assert.equal(line.matched_uri, '/log');
  assert.equal(line.line, 'GET /log?q=2 HTTP/1.1');
});
