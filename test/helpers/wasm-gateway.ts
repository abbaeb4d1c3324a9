// A gateway running wasm fixtures declared in its node config (`wasm.plugins`), with one
// test upstream (`u1`, also reachable as the cluster `auth` for http_call fixtures; `dead`
// refuses connections).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type Gateway, type GatewayOptions } from './gateway.js';
import { startUpstream, type TestUpstream } from '../fixtures/upstream.js';
import { asFixture, wasmFixture, type AsFixtureName, type WasmFixtureName } from './wasm-fixtures.js';

export interface WasmPluginDecl {
  name: string;
  /** A .wat fixture name, or `as:<name>` for an AssemblyScript one. */
  fixture: string;
  priority?: number;
  stage?: string;
  root_id?: string;
  fail_strategy?: 'FAIL_CLOSE' | 'FAIL_OPEN';
  http_request_phase?: 'rewrite' | 'access';
}

export interface WasmGateway {
  gw: Gateway;
  up: TestUpstream;
  /** The inline upstream of every route. */
  upstream: { nodes: Record<string, number> };
  stop(): Promise<void>;
}

export async function fixtureBytes(fixture: string): Promise<Uint8Array> {
  return fixture.startsWith('as:') ? asFixture(fixture.slice(3) as AsFixtureName) : wasmFixture(fixture as WasmFixtureName);
}

export async function startWasmGateway(plugins: WasmPluginDecl[], routes: (upstreamId: string) => Record<string, unknown>[],
  opts: Omit<GatewayOptions, 'config' | 'extra'> & { wasm?: Record<string, unknown>; extra?: Record<string, unknown> } = {}): Promise<WasmGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-wasm-'));
  const decls = [];
  for (const p of plugins) {
    const file = join(dir, `${p.name}.wasm`);
    await writeFile(file, await fixtureBytes(p.fixture));
    const { fixture: _f, ...rest } = p;
    void _f;
    decls.push({ priority: 0, ...rest, file });
  }
  const up = await startUpstream('u1');
  const node = `127.0.0.1:${up.port}`;
  let gw: Gateway;
  try {
    gw = await startGateway({
      ...opts,
      config: {
        upstreams: [{ id: 'u1', nodes: { [node]: 1 }, type: 'roundrobin' }, { id: 'auth', nodes: { [node]: 1 }, type: 'roundrobin' },
          { id: 'dead', nodes: { '127.0.0.1:1': 1 }, type: 'roundrobin' }],
        routes: routes('u1'),
      },
      extra: { ...(opts.extra ?? {}), wasm: { ...(opts.wasm ?? {}), plugins: decls } },
    });
  } catch (err) {
    await up.close();
    throw err;
  }
  return { gw, up, upstream: { nodes: { [node]: 1 } }, stop: async () => { await gw.stop(); await up.close(); } };
}
