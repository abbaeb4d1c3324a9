// Thousands of random and mutated requests against every resource and method (seeded,
// so a failure replays): never a 5xx, and afterwards the store holds only objects that
// validate, with no dangling references.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request, Agent } from 'undici';
import { startGateway, eventually, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { makeCert } from '../../helpers/certs.js';
import { SqliteStore } from '../../../src/config-store/sqlite-store.js';
import { ConfigState } from '../../../src/config-store/state.js';
import { checkReferences, validateResource, type ValidateOptions } from '../../../src/config-store/validate.js';
import { compileExpr } from '../../../src/core/expr/index.js';
import { PluginRegistry } from '../../../src/plugin-runtime/registry.js';
import { prng } from '../../helpers/prng.js';

const SEED = Number(process.env.GATEHOUSE_FUZZ_SEED ?? 20240611);
const REQUESTS = 3000;
const CONCURRENCY = 8;

let gw: Gateway;
before(async () => { gw = await startGateway({ store: 'sqlite', workers: 2 }); });
after(async () => { await gw?.stop(); });


type Obj = Record<string, unknown>;
const cert = makeCert(['fuzz.test']);

function fuzzer(rand: () => number) {
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number): boolean => rand() < p;
  const ids = ['f1', 'f2', 'f3'];
  const users = ['c1', 'c2', 'c3'];
  const weirdIds = ['..', '.', 'a%2Fb', '%00', 'x'.repeat(70), '%C3%A9', 'a b', '%25', '-', '1', '0', '_.-'];
  const strings = ['', ' ', '/', '/fz', 'roundrobin', 'chash', '$host', '127.0.0.1', '::1', 'GET', 'null', '{}', '\u0000',
    'é', 'x'.repeat(300), '*.example.com', 'key-auth', '10.0.0.0/8'];

  const value = (depth = 0): unknown => {
    switch (int(depth > 3 ? 6 : 8)) {
      case 0: return null;
      case 1: return chance(0.5);
      case 2: return pick([0, 1, -1, 65536, 2 ** 53, 1.5, -0.5, 1e300]);
      case 3: case 4: return pick(strings);
      case 5: return pick(ids);
      case 6: return Array.from({ length: int(4) }, () => value(depth + 1));
      default: {
        const o: Obj = {};
        for (let i = int(4); i > 0; i--) o[pick([...strings.slice(0, 6), 'nodes', 'plugins', 'host', 'port', 'weight', 'key'])] = value(depth + 1);
        return o;
      }
    }
  };

  const templates: Record<string, () => Obj> = {
    routes: () => (chance(0.5)
      ? { uri: `/fz/${int(5)}`, upstream_id: pick(ids) }
      : { uris: ['/a', '/b'], hosts: ['Fz.Example.com'], methods: ['GET'], upstream: { nodes: { '127.0.0.1:1980': 1 } }, service_id: pick(ids) }),
    services: () => ({ upstream_id: pick(ids), hosts: ['svc.test'], name: 'svc' }),
    upstreams: () => (chance(0.5) ? { nodes: { '127.0.0.1:1980': int(3) } }
      : { type: 'chash', key: 'remote_addr', nodes: [{ host: '::1', port: 80, weight: 1 }], tls: { client_cert_id: pick(ids) } }),
    consumers: () => ({ username: pick(users), plugins: { 'key-auth': { key: `k${int(4)}` } }, ...(chance(0.3) ? { group_id: pick(ids) } : {}) }),
    credentials: () => ({ plugins: { 'key-auth': { key: `k${int(4)}` } }, labels: { a: 'b' } }),
    consumer_groups: () => ({ plugins: {}, name: 'g' }),
    plugin_configs: () => ({ plugins: { 'proxy-rewrite': { uri: '/rewritten', headers: { set: { 'x-a': '$host' } } } } }),
    global_rules: () => ({ plugins: { 'request-id': {}, 'ip-restriction': { whitelist: ['127.0.0.0/8'] } } }),
    plugin_metadata: () => ({ allow_origins: { a: 'https://a.example' } }),
    ssls: () => ({ cert: cert.cert, key: cert.key, snis: ['fuzz.test'], ...(chance(0.3) ? { type: 'client' } : {}) }),
  };

  const mutate = (o: Obj): unknown => {
    const out: Obj = structuredClone(o);
    const keys = Object.keys(out);
    for (let n = 1 + int(3); n > 0; n--) {
      switch (int(8)) {
        case 0: if (keys.length > 0) delete out[pick(keys)]; break;
        case 1: if (keys.length > 0) out[pick(keys)] = value(); break;
        case 2: out[pick(['bogus', 'id', 'create_time', 'update_time', 'status', 'labels', 'name', 'username'])] = value(); break;
        case 3: return value();
        case 4: { let deep: unknown = out; for (let i = 0; i < 200; i++) deep = [deep]; return deep; }
        case 5: out.labels = { [pick(strings)]: pick(strings) }; break;
        case 6: out.plugins = value(1); break;
        default: out.plugins = { [pick(['key-auth', 'cors', 'limit-count', 'ip-restriction', 'proxy-rewrite'])]: value(1) }; break;
      }
    }
    return out;
  };

  const subPaths = ['uri', 'upstream/nodes', 'labels/x', 'plugins/key-auth', 'desc', 'methods/0', 'methods/9', 'snis', 'nodes',
    'create_time', 'update_time', 'id', 'username', '__proto__/x', 'upstream_id', 'uri/deeper'];

  return (): { method: string; path: string; body?: string | Buffer; contentType?: string } => {
    const kind = pick(Object.keys(templates));
    const method = pick(['GET', 'GET', 'PUT', 'PUT', 'PUT', 'POST', 'PATCH', 'PATCH', 'DELETE', 'HEAD']);
    const id = chance(0.1) ? pick(weirdIds) : kind === 'consumers' ? pick(users) : kind === 'plugin_metadata' ? pick(['cors', 'key-auth', ...ids]) : pick(ids);
    const base = kind === 'credentials' ? `/consumers/${pick(users)}/credentials` : `/${kind}`;
    let path = chance(0.15) ? base : `${base}/${id}`;
    if (method === 'PATCH' && chance(0.3)) path += `/${pick(subPaths)}`;
    if (method === 'GET' && chance(0.3)) path += pick(['?page=1&page_size=10', '?page_size=3', '?name=(', '?name=.*', '?label=a', '?uri=%5E/fz', '?page=x&page_size=10']);
    if (method === 'DELETE' && chance(0.2)) path += '?force=false';
    let body: string | Buffer | undefined;
    if (method !== 'GET' && method !== 'DELETE' && method !== 'HEAD' || chance(0.05)) {
      const roll = rand();
      const t = templates[kind]!();
      if (roll < 0.35) body = JSON.stringify(t);
      else if (roll < 0.8) body = JSON.stringify(mutate(t));
      else if (roll < 0.9) body = JSON.stringify(t).slice(0, int(30));
      else body = Buffer.from(Array.from({ length: int(64) }, () => int(256)));
    }
    const contentType = pick(['application/json', 'application/json', 'application/json', 'text/plain', 'application/xml', undefined]);
    return { method, path, ...(body !== undefined ? { body } : {}), ...(contentType !== undefined ? { contentType } : {}) };
  };
}

test('random and mutated requests to every resource and method never get a 5xx', async (t) => {
  const next = fuzzer(prng(SEED));
  const agent = new Agent({ connections: CONCURRENCY });
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < REQUESTS) {
      sent++;
      const r = next();
      const headers: Record<string, string> = { 'x-api-key': gw.adminKey };
      if (r.contentType !== undefined) headers['content-type'] = r.contentType;
      const res = await request(`${gw.adminUrl}${r.path}`, { method: r.method as 'GET', headers, body: r.body, dispatcher: agent });
      const text = await res.body.text();
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      const where = `${r.method} ${r.path} ${String(r.body ?? '').slice(0, 120)} -> ${res.statusCode} ${text.slice(0, 200)}`;
      if (res.statusCode >= 500) failures.push(where);
      if (res.statusCode >= 400 && r.method !== 'HEAD') {
        try {
          assert.equal(typeof (JSON.parse(text) as Obj).error_msg, 'string');
        } catch {
          failures.push(`no error_msg: ${where}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await agent.close();
  t.diagnostic(`seed ${SEED}: statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  assert.deepEqual(failures.slice(0, 10), [], `seed ${SEED}; statuses ${JSON.stringify([...statuses])}`);
  // the run must have exercised both successful writes and refusals
  assert.ok((statuses.get(200) ?? 0) + (statuses.get(201) ?? 0) > 100, JSON.stringify([...statuses]));
  assert.ok((statuses.get(400) ?? 0) > 100, JSON.stringify([...statuses]));

  let readiness = '';
  await eventually(async () => {
    const r = await get(`${gw.statusUrl}/status/ready`);
    readiness = r.body;
    return r.status === 200;
  }).catch(() => {
    const errors = gw.output().split('\n').filter((l) => /"level":(50|60)/.test(l)).slice(0, 5);
    assert.fail(`seed ${SEED}: workers never became ready: ${readiness}\n${errors.join('\n')}`);
  });

  // the same checks the Admin API applies, plugins included
  const plugins = await PluginRegistry.load();
  const checks: ValidateOptions = {
    checkPlugins: plugins.checkPlugins, checkMetadata: plugins.checkMetadata, checkExpr: (rule) => { compileExpr(rule); },
  };
  const store = new SqliteStore(join(gw.dir, 'data', 'gatehouse.db'));
  try {
    const state = await store.load();
    assert.ok(state.objects.length > 0);
    for (const o of state.objects) {
      const again = validateResource(o.kind, o.value, checks);
      assert.deepEqual(again, o.value, `${o.kind}/${o.id} is stored normalised`);
    }
    checkReferences(ConfigState.fromStoreState(state));
  } finally {
    await store.close();
  }
});
