import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { BalancerNode } from '../../contracts/balancer.js';
import { HealthChecker, resolveActiveCheck, resolvePassiveCheck } from './health-checker.js';
import type { ProbeOutcome, ProbeTarget } from './health-probe.js';

const quiet = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms, at most `max` times; fails with `what` if it never holds. */
async function until(cond: () => boolean, what: string, max = 300): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (cond()) return;
    await sleep(10);
  }
  assert.fail(`timed out waiting until ${what}`);
}

function nodeAt(port: number, host = '127.0.0.1'): BalancerNode {
  return { id: `${host}:${port}`, host, port, weight: 1, priority: 0 };
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

describe('health checker defaults', () => {
  it('fills in APISIX defaults for active checks', () => {
    const a = resolveActiveCheck({});
    assert.equal(a.type, 'http');
    assert.equal(a.timeoutMs, 1000);
    assert.equal(a.httpPath, '/');
    assert.equal(a.httpMethod, 'GET');
    assert.equal(a.httpReqBody, '');
    assert.equal(a.concurrency, 10);
    assert.equal(a.verifyCertificate, true);
    assert.equal(a.healthyIntervalMs, 1000);
    assert.equal(a.unhealthyIntervalMs, 1000);
    assert.deepEqual([...a.healthyStatuses], [200, 302]);
    assert.deepEqual([...a.unhealthyStatuses], [429, 404, 500, 501, 502, 503, 504, 505]);
    assert.deepEqual(a.thresholds, { successes: 2, httpFailures: 5, tcpFailures: 2, timeouts: 3 });
  });

  it('fills in APISIX defaults for passive checks', () => {
    const p = resolvePassiveCheck({});
    assert.ok(p.healthyStatuses.has(200) && p.healthyStatuses.has(308) && !p.healthyStatuses.has(404));
    assert.deepEqual([...p.unhealthyStatuses], [429, 500, 503]);
    assert.deepEqual(p.thresholds, { successes: 5, httpFailures: 5, tcpFailures: 2, timeouts: 7 });
  });

  it('parses request headers written as "Name: value" lines', () => {
    const a = resolveActiveCheck({ req_headers: ['User-Agent: curl/8', 'X-A:b: c', 'bad'] });
    assert.deepEqual(a.reqHeaders, { 'User-Agent': 'curl/8', 'X-A': 'b: c' });
  });
});

describe('passive health checks', () => {
  const a = nodeAt(1001);
  const b = nodeAt(1002);

  it('starts with every node healthy', () => {
    const hc = new HealthChecker([a, b], { passive: {} }, { logger: quiet });
    assert.deepEqual(hc.healthyIds(), [a.id, b.id]);
    hc.stop();
  });

  it('takes a node out after consecutive unhealthy statuses and tells listeners', () => {
    const hc = new HealthChecker([a, b], { passive: { unhealthy: { http_failures: 3 } } }, { logger: quiet });
    const changes: string[][] = [];
    hc.onChange((set) => changes.push([...set]));
    hc.report(a.id, { status: 500 });
    hc.report(a.id, { status: 503 });
    assert.equal(hc.isHealthy(a.id), true);
    hc.report(a.id, { status: 429 });
    assert.equal(hc.isHealthy(a.id), false);
    assert.deepEqual(changes, [[b.id]]);
    hc.stop();
  });

  it('counts only consecutive failures: a success in between starts the count again', () => {
    const hc = new HealthChecker([a], { passive: { unhealthy: { http_failures: 3 } } }, { logger: quiet });
    hc.report(a.id, { status: 500 });
    hc.report(a.id, { status: 500 });
    hc.report(a.id, { status: 200 });
    hc.report(a.id, { status: 500 });
    hc.report(a.id, { status: 500 });
    assert.equal(hc.isHealthy(a.id), true);
    hc.stop();
  });

  it('ignores statuses in neither list', () => {
    const hc = new HealthChecker([a], { passive: { unhealthy: { http_failures: 1 } } }, { logger: quiet });
    hc.report(a.id, { status: 404 });
    assert.equal(hc.isHealthy(a.id), true);
    hc.stop();
  });

  it('counts connect, reset and tls errors as tcp failures and timeouts separately', () => {
    const hc = new HealthChecker([a, b], { passive: { unhealthy: { tcp_failures: 3, timeouts: 2 } } }, { logger: quiet });
    hc.report(a.id, { error: 'connect' });
    hc.report(a.id, { error: 'reset' });
    assert.equal(hc.isHealthy(a.id), true);
    hc.report(a.id, { error: 'tls' });
    assert.equal(hc.isHealthy(a.id), false);
    hc.report(b.id, { error: 'timeout' });
    hc.report(b.id, { error: 'timeout' });
    assert.equal(hc.isHealthy(b.id), false);
    hc.stop();
  });

  it('treats any status as a success for a tcp-type passive check', () => {
    const hc = new HealthChecker([a], { passive: { type: 'tcp', unhealthy: { http_failures: 1 } } }, { logger: quiet });
    hc.report(a.id, { status: 500 });
    assert.equal(hc.isHealthy(a.id), true);
    hc.stop();
  });

  it('ignores reports when no passive check is configured', () => {
    const hc = new HealthChecker([a], { active: { healthy: { interval: 60 }, unhealthy: { interval: 60 } } }, {
      logger: quiet, probe: async () => ({ status: 200 }),
    });
    for (let i = 0; i < 10; i++) hc.report(a.id, { error: 'connect' });
    assert.equal(hc.isHealthy(a.id), true);
    hc.stop();
  });

  it('brings a node back after the cool-down when only passive checks are configured', async () => {
    const hc = new HealthChecker([a], { passive: { unhealthy: { tcp_failures: 1 } } }, { logger: quiet, passiveCooldownMs: 20 });
    hc.report(a.id, { error: 'connect' });
    assert.equal(hc.isHealthy(a.id), false);
    await until(() => hc.isHealthy(a.id), 'the cool-down revives the node');
    hc.stop();
  });
});

describe('active health checks with a fake probe', () => {
  const a = nodeAt(2001);
  const b = nodeAt(2002);

  it('revives a node taken out by passive checks once probes succeed', async () => {
    const hc = new HealthChecker([a, b], {
      active: { healthy: { interval: 0.01, successes: 2 }, unhealthy: { interval: 0.01 } },
      passive: { unhealthy: { http_failures: 1 } },
    }, { logger: quiet, probe: async () => ({ status: 200 }), passiveCooldownMs: 3_600_000 });
    hc.report(a.id, { status: 500 });
    assert.deepEqual(hc.healthyIds(), [b.id]);
    await until(() => hc.isHealthy(a.id), 'active probes revive the node');
    hc.stop();
  });

  it('probes the configured port, path and host instead of the node\'s own', async () => {
    const targets: ProbeTarget[] = [];
    const hc = new HealthChecker([nodeAt(2003, '::1')], {
      active: { type: 'https', port: 9999, http_path: '/status', https_verify_certificate: false, timeout: 0.5, healthy: { interval: 0.01 } },
    }, { logger: quiet, hostHeader: 'up.example', probe: async (t) => { targets.push(t); return { status: 200 }; } });
    await until(() => targets.length > 0, 'a probe runs');
    hc.stop();
    assert.deepEqual(
      { ...targets[0], headers: undefined },
      { type: 'https', address: '::1', port: 9999, timeoutMs: 500, path: '/status', method: 'GET', body: undefined,
        hostHeader: 'up.example', headers: undefined, verifyCertificate: false },
    );
  });

  it('runs at most `concurrency` probes at once; the others wait for a slot', async () => {
    let running = 0;
    let most = 0;
    let probes = 0;
    const nodes = [3001, 3002, 3003, 3004, 3005].map((p) => nodeAt(p));
    const hc = new HealthChecker(nodes, { active: { concurrency: 2, healthy: { interval: 0.01 } } }, {
      logger: quiet,
      probe: async () => {
        running++;
        probes++;
        most = Math.max(most, running);
        await sleep(5);
        running--;
        return { status: 200 };
      },
    });
    await until(() => probes >= 15, 'every node is probed several times');
    hc.stop();
    assert.equal(most, 2);
  });

  it('brackets an IPv6 node host in the Host header', async () => {
    const targets: ProbeTarget[] = [];
    const hc = new HealthChecker([nodeAt(2004, '::1')], { active: { healthy: { interval: 0.01 } } }, {
      logger: quiet, probe: async (t) => { targets.push(t); return { status: 200 }; },
    });
    await until(() => targets.length > 0, 'a probe runs');
    hc.stop();
    assert.equal(targets[0]!.hostHeader, '[::1]');
  });

  it('stops probing once stopped', async () => {
    let probes = 0;
    let outcome: ProbeOutcome = { status: 200 };
    const hc = new HealthChecker([a], { active: { healthy: { interval: 0.01 } } }, {
      logger: quiet, probe: async () => { probes++; return outcome; },
    });
    await until(() => probes >= 2, 'probes run');
    hc.stop();
    const seen = probes;
    outcome = { error: 'connect' };
    await sleep(50);
    assert.ok(probes <= seen + 1, 'at most the probe in flight at stop() finishes');
    assert.equal(hc.isHealthy(a.id), true, 'a probe finishing after stop() changes nothing');
  });
});

describe('active health checks against real servers', () => {
  let failing = false;
  let lastHost: string | undefined;
  let lastHeader: string | string[] | undefined;
  const flaky = http.createServer((req, res) => {
    lastHost = req.headers.host;
    lastHeader = req.headers['x-check'];
    res.statusCode = failing ? 500 : 200;
    res.end();
  });
  const steady = http.createServer((_req, res) => res.end('ok'));
  let flakyPort = 0;
  let steadyPort = 0;
  before(async () => {
    flakyPort = await listen(flaky);
    steadyPort = await listen(steady);
  });
  after(() => {
    flaky.close();
    steady.close();
  });

  it('takes out a node that starts answering 500 and puts it back when it recovers', async () => {
    const up = nodeAt(flakyPort);
    const ok = nodeAt(steadyPort);
    const hc = new HealthChecker([up, ok], {
      active: {
        host: 'probe.example',
        req_headers: ['X-Check: 1'],
        healthy: { interval: 0.05, successes: 2 },
        unhealthy: { interval: 0.05, http_failures: 2 },
      },
    }, { logger: quiet });
    const changes: string[][] = [];
    hc.onChange((set) => changes.push([...set].sort()));
    try {
      await until(() => lastHost !== undefined, 'the first probe arrives');
      assert.equal(lastHost, 'probe.example');
      assert.equal(lastHeader, '1');
      failing = true;
      await until(() => !hc.isHealthy(up.id), 'the failing node is taken out');
      assert.deepEqual(hc.healthyIds(), [ok.id]);
      failing = false;
      await until(() => hc.isHealthy(up.id), 'the recovered node is put back');
      assert.deepEqual(changes, [[ok.id], [up.id, ok.id].sort()]);
    } finally {
      failing = false;
      hc.stop();
    }
  });

  it('sends the configured http_method, http_req_body and req_headers', async () => {
    const seen: { method?: string; body: string; headers: http.IncomingHttpHeaders }[] = [];
    const recorder = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => { seen.push({ method: req.method, body, headers: req.headers }); res.end(); });
    });
    const port = await listen(recorder);
    const hc = new HealthChecker([nodeAt(port)], {
      active: { http_method: 'POST', http_path: '/probe', http_req_body: '{"ping":1}', req_headers: ['X-Check: 2', 'Content-Type: application/json'],
        healthy: { interval: 0.02 } },
    }, { logger: quiet });
    try {
      await until(() => seen.length > 0, 'a probe arrives');
    } finally {
      hc.stop();
      recorder.close();
    }
    assert.equal(seen[0]!.method, 'POST');
    assert.equal(seen[0]!.body, '{"ping":1}');
    assert.equal(seen[0]!.headers['content-length'], '10');
    assert.equal(seen[0]!.headers['x-check'], '2');
    assert.equal(seen[0]!.headers['content-type'], 'application/json');
  });

  it('takes out a node whose port refuses tcp connections', async () => {
    const closed = net.createServer();
    const port = await listen(closed);
    await new Promise((r) => closed.close(r));
    const dead = nodeAt(port);
    const alive = nodeAt(steadyPort);
    const hc = new HealthChecker([dead, alive], {
      active: { type: 'tcp', healthy: { interval: 0.02 }, unhealthy: { interval: 0.02, tcp_failures: 2 } },
    }, { logger: quiet });
    try {
      await until(() => !hc.isHealthy(dead.id), 'the dead node is taken out');
      assert.equal(hc.isHealthy(alive.id), true);
    } finally {
      hc.stop();
    }
  });

  it('takes out a node whose probes time out', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => { sockets.add(s); });
    const port = await listen(silent);
    const hc = new HealthChecker([nodeAt(port)], {
      active: { timeout: 0.05, healthy: { interval: 0.02 }, unhealthy: { interval: 0.02, timeouts: 2 } },
    }, { logger: quiet });
    try {
      await until(() => hc.healthyIds().length === 0, 'the silent node is taken out');
    } finally {
      hc.stop();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
