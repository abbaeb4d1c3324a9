import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { startDnsmasq, type TestDnsmasq } from '../../helpers/dnsmasq.js';
import { adminClient } from '../admin/client.js';

// dns service discovery through the real gateway (two workers) against a real DNS server
// (dnsmasq) and real upstream servers: requests reach the nodes the records name; when the
// records change (A records re-read on SIGHUP, SRV records by a restart) the requests reach
// the new nodes with none failing; while the server is away the last nodes keep serving and
// the failure is visible; health checks apply to discovered nodes; a re-forked worker starts
// with the node sets; the Admin API refuses a registry the node does not enable, and a
// plugin's own inline upstream naming a service.
//
// A records carry no port, so the two A-record upstreams listen on the same port at two
// loopback addresses (127.0.0.2 and 127.0.0.3): the first takes a free port, the second the same.

interface Named { name: string; port: number; close(): Promise<void> }

function serve(name: string, host = '127.0.0.1', port = 0): Promise<Named> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.setHeader('x-upstream', name);
    res.end(name);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({
      name, port: (server.address() as AddressInfo).port,
      close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
    }));
  });
}

let dns: TestDnsmasq;
let gw: Gateway;
let servers: Named[] = [];
let a2: Named; let a3: Named; let s1: Named; let s2: Named;
let deadPort: number;

const srvConf = (apiPort: number): string[] => [
  `srv-host=_http._tcp.api.test,srv-target.test,${apiPort},10,1`,
  `srv-host=_http._tcp.checked.test,srv-target.test,${s1.port},10,1`,
  `srv-host=_http._tcp.checked.test,srv-target.test,${deadPort},10,1`,
];

before(async () => {
  a2 = await serve('a2', '127.0.0.2');
  [a3, s1, s2] = await Promise.all([serve('a3', '127.0.0.3', a2.port), serve('s1'), serve('s2')]);
  servers = [a2, a3, s1, s2];
  deadPort = await freePort();
  dns = await startDnsmasq({ hosts: ['127.0.0.2 web.test', '127.0.0.1 srv-target.test'], conf: srvConf(s1.port) });
  const upstream = (service_name: string, extra: Record<string, unknown> = {}) => ({ discovery_type: 'dns', service_name, ...extra });
  gw = await startGateway({
    workers: 2,
    extra: { discovery: { dns: { servers: [dns.server] } } },
    config: {
      routes: [
        { id: 'a', uri: '/a', upstream: upstream(`web.test:${a2.port}`) },
        { id: 's', uri: '/s', upstream: upstream('_http._tcp.api.test') },
        {
          id: 'h', uri: '/h',
          upstream: upstream('_http._tcp.checked.test', {
            retries: 0,
            checks: { active: { type: 'tcp', healthy: { interval: 1, successes: 1 }, unhealthy: { interval: 1, tcp_failures: 1 } } },
          }),
        },
        { id: 'none', uri: '/none', upstream: upstream('missing.test:80') },
        { id: 'consul', uri: '/consul', upstream: { discovery_type: 'consul', service_name: 'orders' } },
      ],
    },
  });
});

after(async () => {
  await gw?.stop();
  await dns?.close();
  await Promise.all(servers.map((s) => s.close()));
});

/** Who answered `path`, or `failed <status>`. */
async function who(path: string): Promise<string> {
  const r = await get(gw.url + path);
  return r.status === 200 ? r.body : `failed ${r.status} ${r.body}`;
}

/**
 * Sends requests to `path` from two clients until `done` holds for the answers so far
 * (bounded by `maxMs`) and returns every answer, in order per client.
 */
async function load(path: string, done: (answers: string[]) => boolean, maxMs = 15_000): Promise<string[]> {
  const answers: string[] = [];
  const deadline = Date.now() + maxMs;
  const client = async (): Promise<void> => {
    while (!done(answers) && Date.now() < deadline) answers.push(await who(path));
  };
  await Promise.all([client(), client()]);
  return answers;
}

async function discoveryStatus(): Promise<any> {
  return (await get(`${gw.statusUrl}/status/discovery`)).json().discovery.dns;
}

async function eventually(check: () => Promise<boolean>, what: string, maxMs = 10_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Answers after the first one from `name`, plus 10 more from it. */
const tenAfter = (name: string) => (answers: string[]): boolean => {
  const first = answers.indexOf(name);
  return first >= 0 && answers.length - first > 10;
};

describe('dns discovery through the gateway', () => {
  it('sends requests to the nodes the records name', async () => {
    assert.equal(await who('/a'), 'a2');
    assert.equal(await who('/s'), 's1');
    const status = await discoveryStatus();
    assert.equal(status.reachable, true);
    assert.deepEqual(status.services[`web.test:${a2.port}`].nodes, [{ host: '127.0.0.2', weight: 1, port: a2.port }]);
  });

  it('answers 503 for a service without nodes and for a registry this node does not enable', async () => {
    const none = await get(`${gw.url}/none`);
    assert.equal(none.status, 503);
    assert.equal(none.json().error_msg, 'no valid upstream node');
    const consul = await get(`${gw.url}/consul`);
    assert.equal(consul.status, 503);
    assert.equal(consul.json().error_msg, 'discovery consul is uninitialized');
  });

  it('follows a changed A record with no failed request', async () => {
    const changed = load('/a', tenAfter('a3'));
    await new Promise((r) => setTimeout(r, 300));
    await dns.setHosts(['127.0.0.3 web.test', '127.0.0.1 srv-target.test']);
    const answers = await changed;
    assert.deepEqual(answers.filter((a) => a !== 'a2' && a !== 'a3'), [], 'no request failed');
    assert.ok(answers.includes('a2') && answers.includes('a3'), `served by the old node, then the new one: ${answers.join(',')}`);
    const after = answers.slice(answers.indexOf('a3'));
    // the other client may have had one request in flight to a2 when the set changed
    assert.ok(after.filter((a) => a === 'a2').length <= 1, `only the new node once it is known: ${after.join(',')}`);
  });

  it('follows changed SRV records (a restarted server) with no failed request', async () => {
    const changed = load('/s', tenAfter('s2'));
    await new Promise((r) => setTimeout(r, 300));
    await dns.stop();
    await dns.start(srvConf(s2.port));
    const answers = await changed;
    assert.deepEqual(answers.filter((a) => a !== 's1' && a !== 's2'), [], 'no request failed');
    assert.ok(answers.includes('s1') && answers.includes('s2'), answers.join(','));
  });

  it('keeps serving the last nodes while the DNS server is away, says so, and recovers by itself', async () => {
    await dns.stop();
    try {
      await eventually(async () => (await discoveryStatus()).reachable === false, 'the failure shows in /status/discovery');
      const status = await discoveryStatus();
      assert.ok(status.errors > 0);
      assert.match(status.last_error, /ECONNREFUSED|ETIMEOUT/);
      for (let i = 0; i < 10; i++) assert.equal(await who('/a'), 'a3');
      const metrics = (await get(gw.metricsUrl)).body;
      const errors = Number(/gatehouse_discovery_errors_total\{type="dns"\} (\d+)/.exec(metrics)?.[1]);
      assert.ok(errors > 0, `errors counted: ${errors}`);
      assert.match(gw.output(), /service registry fetch failed/);
    } finally {
      await dns.start();
    }
    await eventually(async () => (await discoveryStatus()).reachable === true, 'the server answers again', 40_000);
    assert.equal(await who('/a'), 'a3');
  });

  it('applies health checks to discovered nodes', async () => {
    // retries 0: a request the balancer sends to the dead node fails, until the checks take it out
    await eventually(async () => {
      const answers = await Promise.all(Array.from({ length: 10 }, () => who('/h')));
      return answers.every((a) => a === 's1');
    }, 'the dead discovered node is taken out by the active checks');
  });

  it('gives a re-forked worker the node sets it needs', async () => {
    const ready = (await get(`${gw.statusUrl}/status/ready`)).json();
    const victim = ready.workers[0].pid as number;
    process.kill(victim, 'SIGKILL');
    await eventually(async () => {
      const r = await get(`${gw.statusUrl}/status/ready`);
      return r.status === 200 && r.json().workers.length === 2 && !r.json().workers.some((w: { pid: number }) => w.pid === victim);
    }, 'the worker is replaced');
    // the primary deals connections out in turn: both workers answer these
    const answers = await Promise.all(Array.from({ length: 10 }, () => who('/s')));
    assert.deepEqual(answers, Array(10).fill('s2'));
  });
});

describe('dns discovery through the Admin API', () => {
  let admin: Gateway | undefined;
  after(async () => { await admin?.stop(); });

  it('refuses a discovery type the node does not enable, and serves a new discovered upstream as soon as the write is applied', async () => {
    admin = await startGateway({ store: 'sqlite', workers: 1, extra: { discovery: { dns: { servers: [dns.server] } } } });
    const call = adminClient(admin);
    const refused = await call('PUT', '/upstreams/1', { discovery_type: 'eureka', service_name: 'ORDERS' });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error_msg, /discovery_type: discovery eureka is not enabled/);
    const both = await call('PUT', '/upstreams/1', { discovery_type: 'dns', service_name: 'x.test', nodes: { '127.0.0.1:1': 1 } });
    assert.equal(both.status, 400);
    assert.match(both.body.error_msg, /nodes: cannot be used with service_name/);
    // a plugin's own inline upstream is never watched: refused rather than a route that 503s for ever
    const discovered = { discovery_type: 'dns', service_name: 'x.test' };
    for (const [plugins, field] of [
      [{ 'canary-header': { header: 'x-canary', value: 'on', upstream: discovered } }, 'upstream.service_name'],
      [{ 'model-router': { modelUpstreams: [{ model: 'm', upstream: discovered }] } }, 'modelUpstreams\\[0\\]\\.upstream\\.service_name'],
    ] as const) {
      const r = await call('PUT', '/routes/plugin-upstream', { uri: '/p', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins });
      assert.equal(r.status, 400, r.text);
      assert.match(r.body.error_msg, new RegExp(`${field}: .*use upstream_id pointing at an upstream with discovery`));
    }

    assert.equal((await call('PUT', '/upstreams/1', { discovery_type: 'dns', service_name: `web.test:${a2.port}` })).status, 201);
    assert.equal((await call('PUT', '/routes/1', { uri: '/a', upstream_id: '1' })).status, 201);
    // the change reaches the workers with the service's nodes: no 503 in between
    await eventually(async () => (await get(`${admin!.statusUrl}/status/ready`)).status === 200, 'the write is applied');
    const r = await get(`${admin.url}/a`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'a3');
  });
});
