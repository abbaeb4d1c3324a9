import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseNodeConfig } from '../../../src/core/node-config.js';
import { validateResource } from '../../../src/config-store/validate.js';
import type { ToPrimary, ToWorker } from '../../../src/process/messages.js';
import { serviceKey } from '../../../src/discovery/service-key.js';
import { get } from '../../helpers/http.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';

// A worker started on its own, speaking the primary's IPC protocol: a discovery change the
// primary broadcasts right behind `init` (while the worker still loads its plugins) must
// be applied, not dropped, so the worker serves the newer node set from its first request.

const WORKER = fileURLToPath(new URL('../../../src/process/worker-main.js', import.meta.url));

let oldNode: TestUpstream;
let newNode: TestUpstream;
let worker: ChildProcess | undefined;

before(async () => {
  [oldNode, newNode] = await Promise.all([startUpstream('old'), startUpstream('new')]);
});

after(async () => {
  if (worker?.exitCode === null) worker.kill();
  await Promise.all([oldNode?.close(), newNode?.close()]);
});

function nextMessage(child: ChildProcess, type: ToPrimary['type'], ms = 10_000): Promise<ToPrimary> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${type}' from the worker within ${ms} ms`)), ms);
    const onMessage = (msg: ToPrimary): void => {
      if (msg.type === 'fatal') reject(new Error(`worker failed: ${msg.message}`));
      if (msg.type !== type && msg.type !== 'fatal') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(msg);
    };
    child.on('message', onMessage);
  });
}

it('applies a discovery change that arrives while init is still loading plugins', async () => {
  const config = parseNodeConfig([
    'node: { listen: [{ host: 127.0.0.1, port: 0 }], workers: 1 }',
    'log: { level: fatal }',
    'discovery: { dns: { servers: ["127.0.0.1:53"] } }',
  ].join('\n'), '/nonexistent/config.yaml');
  const ref = { type: 'dns', name: 'api.test' };
  const route = validateResource('routes', { uri: '/x', upstream: { discovery_type: 'dns', service_name: 'api.test' } });
  const node = (u: TestUpstream) => [{ host: '127.0.0.1', port: u.port, weight: 1 }];

  worker = fork(WORKER, [], { execArgv: ['--no-node-snapshot'], env: { ...process.env, GATEHOUSE_WORKER_INDEX: '0' }, stdio: 'ignore' });
  const child = worker;
  await nextMessage(child, 'hello');
  const listening = nextMessage(child, 'listening');
  child.send({
    type: 'init', config,
    state: { revision: 1, objects: [{ kind: 'routes', id: 'r', value: route as unknown as Record<string, unknown>, createdIndex: 1, modifiedIndex: 1 }] },
    discovery: [[serviceKey(ref), node(oldNode)]],
  } satisfies ToWorker);
  // sent back to back, as the primary's broadcast may follow its `init` to a starting worker
  child.send({ type: 'discovery', changes: [[serviceKey(ref), node(newNode)]] } satisfies ToWorker);
  const msg = await listening;
  assert.equal(msg.type, 'listening');
  const port = msg.type === 'listening' ? msg.addresses[0]!.port : 0;
  for (let i = 0; i < 3; i++) {
    const res = await get(`http://127.0.0.1:${port}/x`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-upstream'], 'new', 'the node set of the change sent during init serves');
  }
  assert.equal(oldNode.seen.length, 0);
});
