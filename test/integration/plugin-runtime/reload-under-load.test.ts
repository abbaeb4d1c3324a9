// Plugin reloads while traffic flows: 8 concurrent clients for about 2 s against a route
// with several plugins (built-in, fixture and custom, plus a global rule) while the
// custom plugin's code changes and PUT /plugins/reload is called several times.
// Not one request may fail, and every answer must have gone through the plugins.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startGateway, type Gateway, FIXTURE_PLUGIN_DIR } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { adminClient } from '../admin/client.js';

const CLIENTS = 8;
const LOAD_MS = 2_000;
/** Upper bound per client, so the loop ends even on a very fast machine. */
const MAX_REQUESTS_PER_CLIENT = 20_000;
const RELOADS = 5;

let gw: Gateway;
let up: TestUpstream;
let dir: string;

const flag = (version: number): string => `export default {
  name: 'flag', version: ${version}, stage: 'default', priority: 5,
  schema: { type: 'object' },
  header_filter(_conf, ctx) { ctx.response.setHeader('x-flag', 'v${version}'); },
};
`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-reload-load-'));
  await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
  await writeFile(join(dir, 'flag.js'), flag(0));
  up = await startUpstream('load');
  const upstream = { nodes: { [`127.0.0.1:${up.port}`]: 1 } };
  gw = await startGateway({
    workers: 2,
    extra: { plugin_dirs: [FIXTURE_PLUGIN_DIR, dir] },
    config: {
      global_rules: [{ id: 'g', plugins: { 'trace-authz-high': { tag: 'global' } } }],
      routes: [{
        id: 'busy', uri: '/busy', upstream, plugins: {
          'trace-authn': {}, 'trace-default': {}, flag: {},
          'proxy-rewrite': { headers: { set: { 'x-rewritten': 'yes' } } },
          'response-rewrite': { headers: { set: { 'x-response-rewritten': 'yes' } } },
        },
      }],
    },
  });
});
after(async () => {
  await gw?.stop();
  await up?.close();
  await rm(dir, { recursive: true, force: true });
});

test('zero failed requests while plugins are reloaded several times under load', async (t) => {
  const agent = new Agent({ connections: CLIENTS, keepAliveTimeout: 2_000 });
  const failures: string[] = [];
  const flags = new Map<string, number>();
  let total = 0;
  let stop = false;
  const client = async (): Promise<void> => {
    for (let i = 0; i < MAX_REQUESTS_PER_CLIENT && !stop; i++) {
      try {
        const res = await request(`${gw.url}/busy`, { dispatcher: agent });
        const body = await res.body.text();
        total++;
        const trace = res.headers['x-trace-resp'];
        if (res.statusCode !== 200) failures.push(`status ${res.statusCode}: ${body.slice(0, 200)}`);
        else if (trace !== 'trace-default,trace-authn,global' || res.headers['x-response-rewritten'] !== 'yes'
          || (JSON.parse(body) as { headers: Record<string, string> }).headers['x-rewritten'] !== 'yes') {
          failures.push(`plugins skipped: trace=${String(trace)}`);
        }
        const f = String(res.headers['x-flag']);
        flags.set(f, (flags.get(f) ?? 0) + 1);
      } catch (err) {
        failures.push(`error: ${(err as Error).message}`);
      }
    }
  };
  const reloads = async (): Promise<void> => {
    const call = adminClient(gw);
    for (let i = 1; i <= RELOADS; i++) {
      await new Promise((r) => setTimeout(r, LOAD_MS / (RELOADS + 1)));
      await writeFile(join(dir, 'flag.js'), flag(i));
      const r = await call('PUT', '/plugins/reload');
      assert.equal(r.status, 200, r.text);
    }
    await new Promise((r) => setTimeout(r, LOAD_MS / (RELOADS + 1)));
    stop = true;
  };
  try {
    await Promise.all([reloads(), ...Array.from({ length: CLIENTS }, client)]);
  } finally {
    stop = true;
    await agent.close();
  }
  t.diagnostic(`${total} requests, answers per plugin version: ${JSON.stringify(Object.fromEntries(flags))}`);
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${total} requests failed`);
  assert.ok(total > RELOADS * CLIENTS, `only ${total} requests were made`);
  // the code really changed while the load ran: the last version answered, older ones did before
  assert.ok((flags.get(`v${RELOADS}`) ?? 0) > 0, JSON.stringify([...flags]));
  assert.ok(flags.size > 1, JSON.stringify([...flags]));
  assert.equal(gw.output().includes('"level":50') && /plugin .* failed/.test(gw.output()), false);
});
