import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { runStoreContract, waitFor, type ContractObject } from '../../test/contract/config-store.contract.js';
import type { StoreEvent } from '../contracts/store.js';
import { isGatehouseError, type GatehouseError } from '../core/errors.js';
import { logger, setLogger } from '../core/logger.js';
import { StandaloneStore } from './standalone-store.js';

const FAST = { pollIntervalMs: 100, debounceMs: 20 };

// Capture log lines instead of printing them (the broken-file tests log at error level).
const logLines: { level: number; msg: string }[] = [];
const previousLogger = logger();
before(() => {
  setLogger(pino({ level: 'info' }, { write: (s: string) => { logLines.push(JSON.parse(s) as { level: number; msg: string }); } }));
});
after(() => setLogger(previousLogger));

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'gatehouse-standalone-'));
}

function fileText(objects: ContractObject[]): string {
  const doc: Record<string, unknown[]> = {};
  for (const o of objects) (doc[o.kind] ??= []).push(o.value);
  return stringify(doc);
}

const UPSTREAM = 'upstreams:\n  - id: u1\n    nodes: {"127.0.0.1:1980": 1}\n';
const routesYaml = (n: number, prefix = 'r'): string =>
  `${UPSTREAM}routes:\n${Array.from({ length: n }, (_, i) => `  - id: ${prefix}${i}\n    uri: /${prefix}${i}\n    upstream_id: u1\n`).join('')}`;

let contractFile = '';
runStoreContract('standalone', async () => {
  const dir = await tempDir();
  contractFile = path.join(dir, 'gatehouse.yaml');
  await writeFile(contractFile, 'routes: []\n');
  return { store: new StandaloneStore(contractFile, FAST), cleanup: () => rm(dir, { recursive: true, force: true }) };
}, {
  readOnly: true,
  setContent: async (objects) => {
    // replace the file the way editors do (write aside, rename over), so readers never see half a file
    const tmp = `${contractFile}.tmp`;
    await writeFile(tmp, fileText(objects));
    await rename(tmp, contractFile);
  },
});

describe('StandaloneStore', () => {
  let dir: string;
  before(async () => { dir = await tempDir(); });
  after(() => rm(dir, { recursive: true, force: true }));

  let n = 0;
  const newFile = async (text: string, ext = 'yaml'): Promise<string> => {
    const file = path.join(dir, `conf-${++n}.${ext}`);
    await writeFile(file, text);
    return file;
  };

  it('refuses an invalid file at load, naming the object and the field', async () => {
    const file = await newFile(`${UPSTREAM}routes:\n  - {id: r1, uri: /a, upstream_id: u1}\n  - {id: r2, uri: /b, upstream_id: u1}\n  - {id: r3, uri: 3, upstream_id: u1}\n`);
    const store = new StandaloneStore(file);
    await assert.rejects(store.load(), (e: unknown) => {
      assert.ok(isGatehouseError(e, 'GH_ERR_CONFIG_INVALID'));
      assert.equal((e as Error).message,
        'routes[2] (id "r3"): invalid configuration: property "uri" validation failed: wrong type: expected string, got number');
      return true;
    });
    assert.equal(store.lastError?.code, 'GH_ERR_CONFIG_INVALID');
    await store.close();
  });

  it('keeps serving the last good file when a change is invalid, and reports it', async () => {
    const file = await newFile(routesYaml(2));
    const store = new StandaloneStore(file, FAST);
    const good = await store.load();
    const events: StoreEvent[] = [];
    const errors: GatehouseError[] = [];
    store.watch(good.revision, (ev) => events.push(ev));
    store.onError((e) => errors.push(e));
    logLines.length = 0;

    await writeFile(file, `${UPSTREAM}routes:\n  - id: r0\n    uri: /r0\n    upstream_id: 99\n`);
    await waitFor(() => errors.length > 0, 'the error report');
    assert.equal(errors[0]!.message, 'routes[0] (id "r0"): failed to fetch upstream info by upstream id [99], response code: 404');
    assert.equal(store.lastError, errors[0]);
    assert.ok(logLines.some((l) => l.level === 50 && l.msg === errors[0]!.message), 'logged at error level');
    assert.equal(events.length, 0);
    assert.equal(store.revision, good.revision);
    assert.deepEqual((await store.list('routes')).map((o) => o.id), ['r0', 'r1']);

    // an explicit load reports the same problem and still leaves the good state in place
    await assert.rejects(store.load(), /upstream id \[99\]/);
    assert.equal((await store.get('routes', 'r1'))?.value.uri, '/r1');

    await writeFile(file, routesYaml(3));
    await waitFor(() => events.length > 0, 'the reload after the fix');
    assert.equal(store.lastError, undefined);
    assert.equal(events[0]!.type, 'reset');
    assert.equal((await store.list('routes')).length, 3);
    await store.close();
  });

  it('refuses a file with one plugin in two global rules, naming both, and keeps the last good state', async () => {
    const one = 'global_rules:\n  - id: g1\n    plugins: {request-id: {}}\n';
    const file = await newFile(one);
    const store = new StandaloneStore(file, FAST);
    await store.load();
    await writeFile(file, `${one}  - id: g2\n    plugins: {cors: {}, request-id: {}}\n`);
    await assert.rejects(store.load(),
      /global_rules\[1\] \(id "g2"\): plugin request-id is already configured in global rule \[g1\]/);
    assert.deepEqual((await store.list('global_rules')).map((o) => o.id), ['g1']);
    await store.close();
  });

  it('keeps the old state when the file is emptied or cut short', async () => {
    const file = await newFile(routesYaml(2));
    const store = new StandaloneStore(file, FAST);
    await store.load();
    const errors: GatehouseError[] = [];
    store.onError((e) => errors.push(e));
    await writeFile(file, '');
    await waitFor(() => errors.length === 1, 'the empty-file error');
    assert.match(errors[0]!.message, /empty/);
    await writeFile(file, routesYaml(2).slice(0, -12)); // cut inside the last route
    await waitFor(() => errors.length === 2, 'the truncated-file error');
    assert.equal((await store.list('routes')).length, 2);
    await store.close();
  });

  it('substitutes environment variables, with defaults', async () => {
    const file = await newFile(`${UPSTREAM}routes:\n  - id: env\n    uri: \${{GH_TEST_URI}}\n    priority: \${{GH_TEST_PRIO:=7}}\n    upstream_id: u1\n`);
    const store = new StandaloneStore(file, { env: { GH_TEST_URI: '/from-env' } });
    await store.load();
    const r = await store.get('routes', 'env');
    assert.equal(r?.value.uri, '/from-env');
    assert.equal(r?.value.priority, 7);
    const missing = new StandaloneStore(file, { env: {} });
    await assert.rejects(missing.load(), /can't find environment variable GH_TEST_URI/);
    await store.close();
    await missing.close();
  });

  it('gives items without an id the ids arr_1, arr_2, ... in file order', async () => {
    const file = await newFile(`${UPSTREAM}routes:\n  - {uri: /a, upstream_id: u1}\n  - {uri: /b, upstream_id: u1}\nglobal_rules:\n  - plugins: {}\n`);
    const store = new StandaloneStore(file);
    await store.load();
    assert.deepEqual((await store.list('routes')).map((o) => [o.id, o.value.id, o.value.uri]),
      [['arr_1', 'arr_1', '/a'], ['arr_2', 'arr_2', '/b']]);
    assert.equal((await store.get('global_rules', 'arr_1'))?.value.id, 'arr_1');
    await store.close();
  });

  it('keys consumers by username and nests their credentials', async () => {
    const file = await newFile('consumers:\n  - username: jack\n    credentials:\n      - id: c1\n        plugins: {key-auth: {key: k1}}\n      - plugins: {key-auth: {key: k2}}\n');
    const store = new StandaloneStore(file);
    await store.load();
    assert.equal((await store.get('consumers', 'jack'))?.value.credentials, undefined);
    assert.deepEqual((await store.list('credentials')).map((o) => o.id), ['jack/c1', 'jack/arr_2']);
    await store.close();
  });

  it('refuses unknown top-level keys and duplicate ids', async () => {
    const unknown = new StandaloneStore(await newFile('routes: []\nprotos: []\n'));
    await assert.rejects(unknown.load(), /unknown top-level key "protos"/);
    const dup = new StandaloneStore(await newFile(`${UPSTREAM}routes:\n  - {id: a, uri: /a, upstream_id: u1}\n  - {id: a, uri: /b, upstream_id: u1}\n`));
    await assert.rejects(dup.load(), /routes\[1\] \(id "a"\): duplicate id, also used by routes\[0\]/);
    await unknown.close();
    await dup.close();
  });

  it('reads a .json file as JSON', async () => {
    const file = await newFile(JSON.stringify({ upstreams: [{ id: 'u1', nodes: { '[::1]:8080': 2 } }] }), 'json');
    const store = new StandaloneStore(file);
    await store.load();
    assert.deepEqual((await store.get('upstreams', 'u1'))?.value.nodes, { '[::1]:8080': 2 });
    await store.close();
  });

  it('does not bump the revision when the file is saved unchanged', async () => {
    const file = await newFile(routesYaml(1));
    const store = new StandaloneStore(file, FAST);
    const first = await store.load();
    await writeFile(file, `# a comment only\n${routesYaml(1)}`);
    const second = await store.load();
    assert.equal(second.revision, first.revision);
    await writeFile(file, routesYaml(2));
    const third = await store.load();
    assert.equal(third.revision, first.revision + 1);
    const r0 = third.objects.find((o) => o.id === 'r0')!;
    const r1 = third.objects.find((o) => o.id === 'r1')!;
    assert.equal(r0.modifiedIndex, first.revision, 'an unchanged object keeps its index');
    assert.equal(r1.createdIndex, third.revision);
    await store.close();
  });

  it('applies only whole versions under rapid rewrites and ends on the last one', async () => {
    const file = await newFile(routesYaml(1, 'v0_'));
    const store = new StandaloneStore(file, FAST);
    const start = await store.load();
    const seen: string[][] = [];
    store.watch(start.revision, (ev) => {
      if (ev.type === 'reset') seen.push(ev.state.objects.filter((o) => o.kind === 'routes').map((o) => o.id));
    });
    const versions = 25;
    for (let v = 1; v <= versions; v++) {
      const text = routesYaml(v, `v${v}_`);
      if (v % 2 === 0) {
        await writeFile(`${file}.tmp`, text);
        await rename(`${file}.tmp`, file);
      } else {
        await writeFile(file, text);
      }
      if (v % 5 === 0) await new Promise((r) => setTimeout(r, 30));
    }
    await waitFor(() => seen.at(-1)?.[0] === `v${versions}_0`, 'the last version');
    for (const ids of seen) {
      // every applied state is exactly one written version: v<k>_0 .. v<k>_<k-1>
      const k = Number(/^v(\d+)_/.exec(ids[0]!)![1]);
      assert.deepEqual(ids, Array.from({ length: k }, (_, i) => `v${k}_${i}`));
    }
    assert.equal((await store.list('routes')).length, versions);
    assert.equal(store.lastError, undefined);
    await store.close();
  });
});
