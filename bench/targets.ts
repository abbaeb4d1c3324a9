// Starting the processes under test: the upstream, the baseline proxy, the gateway (1 route or 10k
// routes), nginx and HAProxy. Each is a separate process registered with procs.ts.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, freePort, waitForGrpc, waitForReady, waitForTcp, which } from './procs.js';
import { AI_CHAT_REQUEST, AI_PATH } from './ai-chat.js';
import { GRPC_PATH, GRPC_REQUEST } from './grpc-unary.js';
import { aiStandalone, grpcStandalone, tcpEchoStandalone, gatewayNodeConfig, haproxyConfig, nginxConfig, nginxUpstreamConfig, UPSTREAM_BODY_SIZES, oneRouteStandalone, pluginsStandalone, securityStandalone, transformerStandalone, cacheStandalone, deadLogSinkStandalone, otelStandalone, oneHeaderPluginStandalone, tenKRoutesStandalone, PLUGINS_PATH, TARGET_LABELS, TARGET_PATH, type TargetId } from './scenarios.js';

/** Repository root (dist/bench/targets.js -> ../..). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
const childEnv = { ...process.env, NODE_ENV: 'production' };

export type GatewayTargetId = Extract<TargetId, `gateway${string}`>;

export interface Running {
  id: TargetId | 'upstream' | 'tcp-echo' | 'gateway-stream' | 'trace-sink';
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

/** One of the bench's own node servers (`script` in dist/bench, `--port=<free port>`), once `ready` says it answers. */
async function startBenchServer(id: Running['id'], name: string, script: string,
  ready: (port: number, proc: ManagedProcess) => Promise<void>): Promise<Running> {
  const port = await freePort();
  const args = [here(script), `--port=${port}`];
  const proc = new ManagedProcess(name, process.execPath, args, { env: childEnv, cpu: 'driver' });
  await ready(port, proc);
  return { id, port, procs: [proc], command: `node ${args.join(' ')}` };
}

/** The upstream every HTTP/1.1 proxy row forwards to: nginx when installed (see nginxUpstreamConfig), else node's. */
export async function startUpstream(readyTimeoutMs: number, tmpDir: string): Promise<Running> {
  if (!nginxAvailable()) {
    return startBenchServer('upstream', 'upstream (node)', './upstream-server.js',
      (port, proc) => waitForReady(`http://127.0.0.1:${port}/hello`, proc, readyTimeoutMs));
  }
  const dir = join(tmpDir, 'upstream');
  mkdirSync(join(dir, 'files', 'bytes'), { recursive: true, mode: 0o755 });
  for (const n of UPSTREAM_BODY_SIZES) writeFileSync(join(dir, 'files', 'bytes', String(n)), Buffer.alloc(n, 'x'), { mode: 0o644 });
  // started as root, nginx's workers run as `nobody`: they must be able to reach the files (mkdtemp made the temp dir 0700)
  for (const d of [tmpDir, dir, join(dir, 'files'), join(dir, 'files', 'bytes')]) chmodSync(d, d === tmpDir ? 0o711 : 0o755);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxUpstreamConfig({ dir, port }));
  const args = ['-c', conf, '-p', dir, '-e', join(dir, 'error.log'), '-g', 'daemon off;'];
  const proc = new ManagedProcess('upstream (nginx)', 'nginx', args, { cpu: 'driver' });
  await waitForReady(`http://127.0.0.1:${port}/hello`, proc, readyTimeoutMs);
  return { id: 'upstream', port, procs: [proc], command: `nginx ${args.join(' ')}` };
}

/** The fake model provider (bench/fake-llm-server.ts): the `llm-direct` row, and the provider behind `gateway-ai`. */
export function startFakeLlm(readyTimeoutMs: number): Promise<Running> {
  return startBenchServer('llm-direct', TARGET_LABELS['llm-direct'], './fake-llm-server.js',
    (port, proc) => waitForReady(`http://127.0.0.1:${port}${AI_PATH}`, proc, readyTimeoutMs, AI_CHAT_REQUEST));
}

/** The gRPC unary server (bench/grpc-server.ts): the `grpc-direct` row, and the upstream of `gateway-grpc` and nginx's grpc_pass. */
export function startGrpcServer(readyTimeoutMs: number): Promise<Running> {
  return startBenchServer('grpc-direct', TARGET_LABELS['grpc-direct'], './grpc-server.js',
    (port, proc) => waitForGrpc(`http://127.0.0.1:${port}${GRPC_PATH}`, proc, readyTimeoutMs, GRPC_REQUEST));
}

/** The TCP echo server (bench/tcp-echo-server.ts): the stream route's upstream and the TCP echo sampler's direct side. */
export function startTcpEchoServer(readyTimeoutMs: number): Promise<Running> {
  return startBenchServer('tcp-echo', 'tcp echo', './tcp-echo-server.js', (port, proc) => waitForTcp(port, proc, readyTimeoutMs));
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

/** The otel scenario's collector: accepts OTLP posts and discards them (bench/trace-sink.ts). */
export async function startTraceSink(readyTimeoutMs: number): Promise<Running> {
  return startBenchServer('trace-sink', 'trace sink', './trace-sink.js',
    (port, proc) => waitForReady(`http://127.0.0.1:${port}/stats`, proc, readyTimeoutMs));
}

/**
 * `node bin/gatehouse.js start -c <dir>/config.yaml` from `root` (normally this repository), with a standalone
 * store file holding 1 route (`gateway`), 10,000 routes (`gateway-10k`) or a plugin set. Ready once a request
 * through the gateway answers 200. For `gateway-ai` the upstream port is the fake provider's; `gateway-otel`
 * exports its spans to the trace sink on `sinkPort`.
 */
export async function startGateway(id: GatewayTargetId, root: string, upstreamPort: number, tmpDir: string, readyTimeoutMs: number,
  sinkPort?: number): Promise<Running> {
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
      : id === 'gateway-otel' || id === 'gateway-otel-dead' ? otelStandalone(upstreamPort, sinkPort ?? deadPort)
      : id === 'gateway-otel-unsampled' ? otelStandalone(upstreamPort, sinkPort ?? deadPort, 0)
        : id === 'gateway-wasm' ? oneHeaderPluginStandalone(upstreamPort, 'wasm')
          : id === 'gateway-ts' ? oneHeaderPluginStandalone(upstreamPort, 'ts')
            : id === 'gateway-ai' ? aiStandalone(upstreamPort)
              : id === 'gateway-grpc' ? grpcStandalone(upstreamPort) : tenKRoutesStandalone(upstreamPort, deadPort));
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
  if (id === 'gateway-grpc') await waitForGrpc(`http://127.0.0.1:${port}${GRPC_PATH}`, proc, readyTimeoutMs, GRPC_REQUEST);
  else if (id === 'gateway-ai') await waitForReady(`http://127.0.0.1:${port}${AI_PATH}`, proc, readyTimeoutMs, AI_CHAT_REQUEST);
  else await waitForReady(`http://127.0.0.1:${port}${id === 'gateway' || id === 'gateway-transformer' || id === 'gateway-cache' || id === 'gateway-deadlog' || id === 'gateway-otel' || id === 'gateway-otel-unsampled' || id === 'gateway-otel-dead' || id === 'gateway-wasm' || id === 'gateway-ts' ? '/hello' : id === 'gateway-plugins' || id === 'gateway-security' ? PLUGINS_PATH : TARGET_PATH}`, proc, readyTimeoutMs);
  return { id, port, procs: [proc], command: `node bin/gatehouse.js start -c ${configFile}`, metricsPort };
}

export function nginxAvailable(): boolean { return which('nginx') !== undefined; }

/** nginx was built with its gRPC proxy module (Debian's nginx-light is; `--without-http_grpc_module` builds are not). */
export function nginxHasGrpc(): boolean {
  const r = spawnSync('nginx', ['-V'], { encoding: 'utf8', timeout: 5000 });
  // nginx -V prints its configure arguments on stderr
  return r.status === 0 && !`${r.stdout}${r.stderr}`.includes('--without-http_grpc_module');
}

/** `grpcPort`: also proxy the grpc scenario's calls to the gRPC server there (grpc_pass, on the h2c listener). */
export async function startNginx(upstreamPort: number, tmpDir: string, readyTimeoutMs: number, grpcPort?: number): Promise<Running> {
  const dir = join(tmpDir, 'nginx');
  mkdirSync(dir, { recursive: true });
  const [port, h2Port] = [await freePort(), await freePort()];
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig({ dir, port, h2Port, upstreamPort, grpcPort }));
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
