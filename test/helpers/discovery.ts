// What the service discovery tests share: a DiscoveryService over one registry, reading
// what it found, bounded waits, the base of the local servers that speak a registry's
// protocol, and the check that a route follows a registry's change with no failed request.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { DiscoveredNode } from '../../src/contracts/discovery.js';
import { DiscoveryService } from '../../src/discovery/discovery-service.js';
import type { RegistryFactory } from '../../src/discovery/registry.js';
import { get } from './http.js';
import { eventually } from './gateway.js';

const quiet = pino({ level: 'silent' });

/** The primary's discovery service with one registry of `type`, as the gateway runs it. */
export function discoveryWith(type: string, factory: RegistryFactory): DiscoveryService {
  return new DiscoveryService(new Map([[type, factory]]), { log: quiet, firstAnswerWaitMs: 3_000 });
}

/** The nodes a service of `type` has now (null: no answer yet; undefined: not named). */
export function nodesIn(svc: DiscoveryService, type: string, label: string): DiscoveredNode[] | null | undefined {
  return svc.status()[type]?.services[label]?.nodes;
}

/** Polls `check` every 20 ms until it holds, failing after `ms`. */
export async function until(check: () => boolean, what: string, ms = 8_000): Promise<void> {
  await eventually(check, Math.ceil(ms / 20), 20).catch(() => assert.fail(`timed out waiting until ${what}`));
}

/** An HTTP server on 127.0.0.1 that can be stopped (connections cut) and started again on the same port. */
export abstract class LocalHttpServer {
  port = 0;
  private server: http.Server | undefined;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  protected get running(): boolean {
    return this.server !== undefined;
  }

  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): void;

  /** Called when the server stops, before its connections are cut. */
  protected stopping(): void {}

  async start(port = this.port): Promise<void> {
    const server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    this.stopping();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/**
 * `url` answers from upstream `a` (its `x-upstream`); while two clients keep sending, the
 * registry changes (`change`) to upstream `b`: the route follows with no failed request.
 */
export async function assertFollowsChange(url: string, change: () => void): Promise<void> {
  const first = await get(url);
  assert.equal(first.status, 200, first.body);
  assert.equal(first.headers['x-upstream'], 'a');
  const answers: string[] = [];
  const deadline = Date.now() + 10_000;
  const client = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const r = await get(url);
      answers.push(r.status === 200 ? String(r.headers['x-upstream']) : `failed ${r.status}`);
      const firstB = answers.indexOf('b');
      if (firstB >= 0 && answers.length - firstB > 10) return;
    }
  };
  const load = Promise.all([client(), client()]);
  await new Promise((r) => setTimeout(r, 200));
  change();
  await load;
  assert.deepEqual(answers.filter((x) => x !== 'a' && x !== 'b'), [], 'no request failed');
  assert.ok(answers.includes('b'), `the new node serves: ${answers.join(',')}`);
}
