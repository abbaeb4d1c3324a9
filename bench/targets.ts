// Starting the processes under test: the upstream, the baseline proxy, the gateway (1 route or 10k
// routes), nginx and HAProxy. Each is a separate process registered with procs.ts.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, freePort, waitForReady, waitForTcp, which } from './procs.js';
import { AI_CHAT_REQUEST, AI_PATH } from './ai-chat.js';
import { aiStandalone, tcpEchoStandalone, gatewayNodeConfig, haproxyConfig, nginxConfig, oneRouteStandalone, pluginsStandalone, securityStandalone, transformerStandalone, cacheStandalone, deadLogSinkStandalone, oneHeaderPluginStandalone, tenKRoutesStandalone, PLUGINS_PATH, TARGET_LABELS, TARGET_PATH, type TargetId } from './scenarios.js';

/** Repository root (dist/bench/targets.js -> ../..). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
const childEnv = { ...process.env, NODE_ENV: 'production' };

export type GatewayTargetId = Extract<TargetId, `gateway${string}`>;

export interface Running {
  id: TargetId | 'upstream' | 'tcp-echo' | 'gateway-stream';
  port: number;
  procs: ManagedProcess[];
  /** Human-readable description of how it was started (for the report). */
  command: string;
  /** A gateway's Prometheus export port. */
  metricsPort?: number;
  /** Where it takes h2c with prior knowledge, when that is not `port` (nginx: a listener of its own). */
  h2Port?: number;
}

export function baseUrl(r: Running): string { return `http://127.0.0.1:${r.port}`; }
/** The h2 scenario's base URL: the gateway takes h2c on its HTTP/1.1 listener, nginx on its own. */
export function h2BaseUrl(r: Running): string { return `http://127.0.0.1:${r.h2Port ?? r.port}`; }

export async function startUpstream(readyTimeoutMs: number): Promise<Running> {
  const port = await freePort();
  const args = [here('./upstream-server.js'), `--port=${port}`];
  const proc = new ManagedProcess('upstream', process.execPath, args, { env: childEnv, cpu: 'driver' });
  await waitForReady(`http://127.0.0.1:${port}/hello`, proc, readyTimeoutMs);
  return { id: 'upstream', port, procs: [proc], command: `node ${args.join(' ')}` };
}

/** The fake model provider (bench/fake-llm-server.ts): the `llm-direct` row, and the provider behind `gateway-ai`. */
export async function startFakeLlm(readyTimeoutMs: number): Promise<Running> {
  const port = await freePort();
  const args = [here('./fake-llm-server.js'), `--port=${port}`];
  const proc = new ManagedProcess(TARGET_LABELS['llm-direct'], process.execPath, args, { env: childEnv, cpu: 'driver' });
  await waitForReady(`http://127.0.0.1:${port}${AI_PATH}`, proc, readyTimeoutMs, AI_CHAT_REQUEST);
  return { id: 'llm-direct', port, procs: [proc], command: `node ${args.join(' ')}` };
}

/** The TCP echo server (bench/tcp-echo-server.ts): the stream route's upstream and the TCP echo sampler's direct side. */
export async function startTcpEchoServer(readyTimeoutMs: number): Promise<Running> {
  const port = await freePort();
  const args = [here('./tcp-echo-server.js'), `--port=${port}`];
  const proc = new ManagedProcess('tcp echo', process.execPath, args, { env: childEnv, cpu: 'driver' });
  await waitForTcp(port, proc, readyTimeoutMs);
  return { id: 'tcp-echo', port, procs: [proc], command: `node ${args.join(' ')}` };
}

/** The gateway with one `stream_proxy` TCP listener (`port`) and one stream route to the echo server. */
export async function startStreamGateway(root: string, echoPort: number, tmpDir: string, readyTimeoutMs: number): Promise<Running> {
  const dir = join(tmpDir, 'gateway-stream');
  mkdirSync(dir, { recursive: true });
  const [port, streamPort, adminPort, metricsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const standaloneFile = join(dir, 'gatehouse.yaml');
  writeFileSync(standaloneFile, tcpEchoStandalone(echoPort));
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, gatewayNodeConfig({ port, adminPort, metricsPort, standaloneFile, streamPort }));
  const args = [join(root, 'bin', 'gatehouse.js'), 'start', '-c', configFile];
  const proc = new ManagedProcess('gateway (stream route)', process.execPath, args, { cwd: root, env: childEnv, cpu: 'proxy' });
  await waitForTcp(streamPort, proc, readyTimeoutMs, true);
  return { id: 'gateway-stream', port: streamPort, procs: [proc], command: `node bin/gatehouse.js start -c ${configFile}` };
}

export async function startBaseline(upstreamPort: number, readyTimeoutMs: number): Promise<Running> {
  const port = await freePort();
  const args = [here('./baseline-proxy.js'), `--port=${port}`, `--upstream=http://127.0.0.1:${upstreamPort}`];
  const proc = new ManagedProcess('baseline proxy', process.execPath, args, { env: childEnv, cpu: 'proxy' });
  await waitForReady(`http://127.0.0.1:${port}/hello`, proc, readyTimeoutMs);
  return { id: 'baseline', port, procs: [proc], command: `node ${args.join(' ')}` };
}

/**
 * `node bin/gatehouse.js start -c <dir>/config.yaml` from `root` (normally this repository), with a standalone
 * store file holding 1 route (`gateway`), 10,000 routes (`gateway-10k`) or a plugin set. Ready once a request
 * through the gateway answers 200. For `gateway-ai` the upstream port is the fake provider's.
 */
export async function startGateway(id: GatewayTargetId, root: string, upstreamPort: number, tmpDir: string, readyTimeoutMs: number): Promise<Running> {
  const bin = join(root, 'bin', 'gatehouse.js');
  if (!existsSync(bin)) throw new Error(`${bin} not found`);
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) {
    throw new Error('dist/src/cli/main.js not found: the gateway CLI is not built (run `npm run build`; is src/cli/main.ts there?)');
  }
  const dir = join(tmpDir, id);
  mkdirSync(dir, { recursive: true });
  const [port, adminPort, metricsPort, deadPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const standaloneFile = join(dir, 'gatehouse.yaml');
  writeFileSync(standaloneFile, id === 'gateway' ? oneRouteStandalone(upstreamPort)
    : id === 'gateway-plugins' ? pluginsStandalone(upstreamPort)
    : id === 'gateway-security' ? securityStandalone(upstreamPort)
    : id === 'gateway-transformer' ? transformerStandalone(upstreamPort)
    : id === 'gateway-cache' ? cacheStandalone(upstreamPort)
      : id === 'gateway-deadlog' ? deadLogSinkStandalone(upstreamPort, deadPort)
        : id === 'gateway-wasm' ? oneHeaderPluginStandalone(upstreamPort, 'wasm')
          : id === 'gateway-ts' ? oneHeaderPluginStandalone(upstreamPort, 'ts')
            : id === 'gateway-ai' ? aiStandalone(upstreamPort) : tenKRoutesStandalone(upstreamPort, deadPort));
  let wasmFile: string | undefined;
  if (id === 'gateway-wasm') {
    // the fixture compiled from its .wat with the project's own wabt (the bench runs from a checkout)
    const { wasmFixture } = await import('../test/helpers/wasm-fixtures.js');
    wasmFile = join(dir, 'set-header.wasm');
    writeFileSync(wasmFile, await wasmFixture('set-header'));
  }
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, gatewayNodeConfig({ port, adminPort, metricsPort, standaloneFile, wasmFile }));
  const args = [bin, 'start', '-c', configFile];
  const proc = new ManagedProcess(TARGET_LABELS[id], process.execPath, args, { cwd: root, env: childEnv, cpu: 'proxy' });
  if (id === 'gateway-ai') await waitForReady(`http://127.0.0.1:${port}${AI_PATH}`, proc, readyTimeoutMs, AI_CHAT_REQUEST);
  else await waitForReady(`http://127.0.0.1:${port}${id === 'gateway' || id === 'gateway-transformer' || id === 'gateway-cache' || id === 'gateway-deadlog' || id === 'gateway-wasm' || id === 'gateway-ts' ? '/hello' : id === 'gateway-plugins' || id === 'gateway-security' ? PLUGINS_PATH : TARGET_PATH}`, proc, readyTimeoutMs);
  return { id, port, procs: [proc], command: `node bin/gatehouse.js start -c ${configFile}`, metricsPort };
}

export function nginxAvailable(): boolean { return which('nginx') !== undefined; }

export async function startNginx(upstreamPort: number, tmpDir: string, readyTimeoutMs: number): Promise<Running> {
  const dir = join(tmpDir, 'nginx');
  mkdirSync(dir, { recursive: true });
  const [port, h2Port] = [await freePort(), await freePort()];
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig({ dir, port, h2Port, upstreamPort }));
  // -e: the startup error log too stays inside the temp dir (nginx >= 1.19.5).
  const args = ['-c', conf, '-p', dir, '-e', join(dir, 'error.log'), '-g', 'daemon off;'];
  const proc = new ManagedProcess('nginx', 'nginx', args, { cpu: 'proxy' });
  await waitForReady(`http://127.0.0.1:${port}/hello`, proc, readyTimeoutMs);
  return { id: 'nginx', port, h2Port, procs: [proc], command: `nginx ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}` };
}

export function haproxyAvailable(): boolean { return which('haproxy') !== undefined; }

export async function startHaproxy(upstreamPort: number, tmpDir: string, readyTimeoutMs: number): Promise<Running> {
  const dir = join(tmpDir, 'haproxy');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(conf, haproxyConfig({ port, upstreamPort }));
  // -db: foreground, no daemon, so the process group stop() signals is HAProxy itself.
  const args = ['-db', '-f', conf];
  const proc = new ManagedProcess('haproxy', 'haproxy', args, { cpu: 'proxy' });
  await waitForReady(`http://127.0.0.1:${port}/hello`, proc, readyTimeoutMs);
  return { id: 'haproxy', port, procs: [proc], command: `haproxy ${args.join(' ')}` };
}
