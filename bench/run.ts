// `npm run bench`: the gateway against a baseline Node proxy (and nginx, where installed) in the same
// run, interleaved round by round, printing medians and req/s ratios. See bench/README.md.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loaderAvailable, loaderVersion, runLoad, type LoaderName, type LoadResult } from './load.js';
import { grpcFailure, http2Get, httpGet, installCleanup, outputBlock, pinCpus, processTreeCpuMs, processTreeRssMiB, stopAll } from './procs.js';
import { AI_TTFT_GOAL_MS, goalLine, goalMet, goalsFor, labelOf, scenarioTable, summarize, summaryBlock, type ScenarioResult, type TargetRow } from './report.js';
import { formatCallCost, formatPluginCost, scrapePluginCost, type PluginCostReport } from './plugin-cost.js';
import { H2_CONNECTIONS, H2_STREAMS_PER_CONNECTION, SCENARIOS, TARGET_LABELS, type Scenario, type ScenarioId, type TargetId } from './scenarios.js';
import { formatApplyLatency, runApplyLatency, type ApplyLatencyResult } from './apply-latency.js';
import { formatPublishLatency, runPublishLatency, type PublishLatencyResult } from './publish-latency.js';
import { clusterBenchUnavailable, formatClusterLatency, runClusterLatency, type ClusterLatencyResult } from './cluster-latency.js';
import { aiTtftGoalMet, formatAiTtft, runAiTtft, type AiTtftResult } from './ai-ttft.js';
import { formatTcpEcho, runTcpEcho, type TcpEchoResult } from './tcp-echo.js';
import { REPO_ROOT, baseUrl, h2BaseUrl, haproxyAvailable, nginxAvailable, nginxHasGrpc, startBaseline, startFakeLlm, startGateway, startGrpcServer, startHaproxy, startNginx, startStreamGateway, startTcpEchoServer, startTraceSink, startUpstream, type Running } from './targets.js';

const HELP = `Usage: npm run bench -- [options]      (or: node dist/bench/run.js [options])

  --duration=5          seconds of load per measured run (whole seconds)
  --rounds=3            interleaved rounds per scenario; the report shows the median of rounds
  --connections=50      concurrent keep-alive connections
  --warmup=10           seconds of unmeasured load the first time a target is loaded (JIT warm-up);
                        in later scenarios it gets min(1, N) s on the new path (0 = none)
  --scenarios=LIST      subset of 1route,10k,plugins,security,transformer,cache,wasm,deadlog,otel,ai,1k,64k,1m,h2,grpc (default: all)
  --targets=LIST        subset of baseline,gateway,nginx,haproxy (default: all; nginx and haproxy only when
                        on PATH; baseline includes the fake LLM and gRPC server rows)
  --loader=NAME         wrk | autocannon (default: wrk when on PATH, else autocannon); the h2 and grpc
                        scenarios always use h2load (-c ${H2_CONNECTIONS} -m ${H2_STREAMS_PER_CONNECTION}: 100 concurrent streams)
  --ready-timeout=20    seconds each process gets to answer 200 before it counts as failed
  --gateway-root=DIR    checkout whose bin/gatehouse.js is benchmarked (default: this repository)
  --pin=on              on: the proxy under test alone on the last CPU, the load generator and the upstream
                        on the others (taskset; needs 2 CPUs), so req/s measures each proxy's own cost;
                        off: every process shares every CPU
  --apply=200           write-to-applied latency samples (10,000 routes, 2 workers, sqlite); 0 skips it
  --publish=50          publish-to-serving latency samples of a marketplace plugin (2 workers, sqlite); 0 skips it
  --ai-ttft=300         time-to-first-token samples of a streamed chat, the fake LLM directly vs through
                        ai-proxy + ai-statistics, at concurrency 1 and 8; 0 skips it
  --tcp-echo=5          seconds per run of TCP echo through a stream route against the echo server directly
                        (50 connections of 64-byte ping-pong, --rounds runs per side); 0 skips it
  --cluster=200         cluster write-to-applied samples (3 nodes on a real etcd, 10,000 routes; also 20
                        plugin publishes across nodes); needs Debian's etcd-server; 0 skips it
  --out=FILE            JSON results (default: .bench-tmp/latest.json)
  --keep-tmp            keep the generated configs (temp dir path is printed)
  --help
`;

interface Options {
  duration: number; rounds: number; connections: number; warmup: number;
  scenarios: ScenarioId[]; targets: Set<TargetGroup>;
  loader: LoaderName; readyTimeoutMs: number; out: string; keepTmp: boolean; gatewayRoot: string; pin: boolean; applySamples: number; publishSamples: number; clusterSamples: number; aiTtftSamples: number; tcpEchoSeconds: number;
}

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n\n${HELP}`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const kv = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) fail(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq !== -1) kv.set(a.slice(2, eq), a.slice(eq + 1));
    else if (['help', 'keep-tmp'].includes(a.slice(2))) kv.set(a.slice(2), 'true');
    else if (i + 1 < argv.length) kv.set(a.slice(2), argv[++i]);
    else fail(`${a} needs a value`);
  }
  if (kv.has('help')) { process.stdout.write(HELP); process.exit(0); }
  const known = ['duration', 'rounds', 'connections', 'warmup', 'scenarios', 'targets', 'loader', 'ready-timeout', 'out', 'keep-tmp', 'gateway-root', 'pin', 'apply', 'publish', 'cluster', 'ai-ttft', 'tcp-echo'];
  for (const k of kv.keys()) if (!known.includes(k)) fail(`unknown option --${k}`);
  const num = (k: string, def: number, min: number): number => {
    const v = kv.get(k);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) fail(`--${k} must be a whole number ≥ ${min} (got ${v})`);
    return n;
  };
  const list = <T extends string>(k: string, all: readonly T[]): T[] => {
    const v = kv.get(k);
    if (v === undefined) return [...all];
    const items = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const s of items) if (!all.includes(s as T)) fail(`--${k}: unknown "${s}" (choose from ${all.join(',')})`);
    return items as T[];
  };
  const loaderArg = kv.get('loader') ?? 'auto';
  if (!['auto', 'wrk', 'autocannon'].includes(loaderArg)) fail(`--loader must be wrk or autocannon`);
  const loader: LoaderName = loaderArg === 'auto' ? (loaderAvailable('wrk') ? 'wrk' : 'autocannon') : (loaderArg as LoaderName);
  if (!loaderAvailable(loader)) fail('--loader=wrk but wrk is not on PATH');
  const scenarioIds = SCENARIOS.map((s) => s.id);
  const pin = kv.get('pin') ?? 'on';
  if (pin !== 'on' && pin !== 'off') fail('--pin must be on or off');
  return {
    duration: num('duration', 5, 1), rounds: num('rounds', 3, 1), connections: num('connections', 50, 1), warmup: num('warmup', 10, 0),
    scenarios: list('scenarios', scenarioIds), targets: new Set(list('targets', ['baseline', 'gateway', 'nginx', 'haproxy'] as const)),
    loader, readyTimeoutMs: num('ready-timeout', 20, 1) * 1000,
    out: kv.get('out') ?? join(REPO_ROOT, '.bench-tmp', 'latest.json'), keepTmp: kv.has('keep-tmp'),
    gatewayRoot: resolve(kv.get('gateway-root') ?? REPO_ROOT),
    pin: pin === 'on',
    applySamples: num('apply', 200, 0),
    publishSamples: num('publish', 50, 0),
    clusterSamples: num('cluster', 200, 0),
    aiTtftSamples: num('ai-ttft', 300, 0),
    tcpEchoSeconds: num('tcp-echo', 5, 0),
  };
}

type TargetGroup = 'baseline' | 'gateway' | 'nginx' | 'haproxy';

/** The `--targets` group a row belongs to: the fake LLM and the gRPC server answering directly are their scenarios' baselines. */
function targetGroup(t: TargetId): TargetGroup {
  return t.startsWith('gateway') ? 'gateway' : t === 'nginx' || t === 'haproxy' ? t : 'baseline';
}

const log = (s: string): void => { process.stderr.write(s + '\n'); };
const errMsg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  installCleanup(() => { if (!opts.keepTmp) rmSync(tmp, { recursive: true, force: true }); });

  const notes: string[] = [];
  const h2Wanted = opts.scenarios.includes('h2') || opts.scenarios.includes('grpc');
  if (h2Wanted && !loaderAvailable('h2load')) notes.push('h2load is not on PATH (Debian: nghttp2-client): the h2 and grpc scenarios are skipped.');
  const scenarios: Scenario[] = SCENARIOS.filter((s) => opts.scenarios.includes(s.id) && (s.protocol !== 'h2' || loaderAvailable('h2load'))).map((s) => ({
    ...s,
    targets: s.targets.filter((t) => opts.targets.has(targetGroup(t))),
  }));
  const wanted = new Set<TargetId>(scenarios.flatMap((s) => s.targets));
  if (wanted.has('nginx') && !nginxAvailable()) {
    wanted.delete('nginx');
    notes.push('nginx is not on PATH (Debian: nginx-light): the nginx reference rows are skipped.');
  }
  if (wanted.has('haproxy') && !haproxyAvailable()) {
    wanted.delete('haproxy');
    notes.push('haproxy is not on PATH (Debian: haproxy): the HAProxy reference rows are skipped.');
  }
  const grpcScenario = scenarios.find((s) => s.grpc === true);
  if (grpcScenario?.targets.includes('nginx') === true && wanted.has('nginx') && !nginxHasGrpc()) {
    grpcScenario.targets = grpcScenario.targets.filter((t) => t !== 'nginx');
    notes.push('nginx was built without its gRPC module (--without-http_grpc_module): the grpc scenario has no nginx row.');
  }
  for (const s of scenarios) s.targets = s.targets.filter((t) => wanted.has(t));
  // a scenario left with no target to load (e.g. --targets=haproxy for h2) prints nothing
  scenarios.splice(0, scenarios.length, ...scenarios.filter((s) => s.targets.length > 0));

  // ---- header -------------------------------------------------------------------------------
  const loaderVer = await loaderVersion(opts.loader);
  const h2LoaderVer = scenarios.some((s) => s.protocol === 'h2') ? await loaderVersion('h2load') : undefined;
  const cpu = cpus();
  const pinning = opts.pin ? pinCpus(cpu.length) : 'off';
  const slots = scenarios.reduce((a, s) => a + s.targets.length, 0);
  const warmups = wanted.size * opts.warmup + Math.max(0, slots - wanted.size) * Math.min(1, opts.warmup);
  const estimate = slots * opts.rounds * opts.duration + warmups + slots * opts.rounds * 0.15 + 5;
  const header = [
    `Gatehouse bench — ${new Date().toISOString()}`,
    `  machine   ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, node ${process.version}, ${process.platform} ${process.arch}`,
    `  loader    ${loaderVer}, ${opts.connections} connections${opts.loader === 'wrk' ? ', 1 thread' : ''}, separate process`,
    ...(h2LoaderVer === undefined ? [] : [`  h2 loader ${h2LoaderVer}, ${H2_CONNECTIONS} connections × ${H2_STREAMS_PER_CONNECTION} streams (h2c, prior knowledge), 1 thread`]),
    `  runs      ${opts.duration} s per run × ${opts.rounds} round${opts.rounds === 1 ? "" : "s"} per scenario, targets interleaved (order rotates each round),`,
    `            ${opts.warmup} s warm-up the first time a target is loaded, ${Math.min(1, opts.warmup)} s in its later scenarios; figures are medians of the rounds`,
    `  fairness  the gateway runs with workers: 1 (one data-plane process) and the baseline is one process,`,
    `            so each proxy gets at most one core. nginx runs 1 worker process, HAProxy 1 thread.`,
    `  pinning   ${pinning}`,
    `  upstream  ${nginxAvailable() ? 'nginx, 1 worker process: static answers, /bytes/<n> by sendfile (cheaper than node, so it is not the limit)' : 'node:http, one process (bench/upstream-server.ts; install nginx for a cheaper one)'}`,
    `  gateway   node bin/gatehouse.js start -c <tmp>/config.yaml  (cwd ${opts.gatewayRoot})`,
    `  estimate  ~${estimate < 120 ? `${Math.ceil(estimate)} s` : `${Math.round(estimate / 60)} min`} (${slots} target×scenario slots)`,
    ...notes.map((n) => `  note      ${n}`),
  ].join('\n');
  process.stdout.write(header + '\n\n');

  // ---- start everything ---------------------------------------------------------------------
  const running = new Map<TargetId, Running>();
  const startFailures = new Map<TargetId, string>();
  log('starting upstream…');
  let upstream: Running;
  try {
    upstream = await startUpstream(opts.readyTimeoutMs, tmp);
  } catch (e) {
    process.stdout.write(`FAILED: the bench upstream did not start: ${errMsg(e)}\n`);
    process.exitCode = 1;
    return;
  }
  // The fake LLM is gateway-ai's provider as well as the llm-direct row: started for either.
  let fakeLlm: Promise<Running> | undefined;
  const startedFakeLlm = (): Promise<Running> => (fakeLlm ??= startFakeLlm(opts.readyTimeoutMs));
  // The gRPC server is the grpc-direct row and the upstream of gateway-grpc and of nginx's grpc_pass.
  let grpcServer: Promise<Running> | undefined;
  const startedGrpcServer = (): Promise<Running> => (grpcServer ??= startGrpcServer(opts.readyTimeoutMs));
  // The trace sink takes gateway-otel's spans.
  let traceSink: Promise<Running> | undefined;
  const startedTraceSink = (): Promise<Running> => (traceSink ??= startTraceSink(opts.readyTimeoutMs));
  const nginxGrpcPort = async (): Promise<number | undefined> => (grpcScenario?.targets.includes('nginx') === true ? (await startedGrpcServer()).port : undefined);
  const starters: [TargetId, () => Promise<Running>][] = [
    ['llm-direct', startedFakeLlm],
    ['gateway-ai', async () => startGateway('gateway-ai', opts.gatewayRoot, (await startedFakeLlm()).port, tmp, opts.readyTimeoutMs)],
    ['grpc-direct', startedGrpcServer],
    ['gateway-grpc', async () => startGateway('gateway-grpc', opts.gatewayRoot, (await startedGrpcServer()).port, tmp, opts.readyTimeoutMs)],
    ['baseline', () => startBaseline(upstream.port, opts.readyTimeoutMs)],
    ['nginx', async () => startNginx(upstream.port, tmp, opts.readyTimeoutMs, await nginxGrpcPort())],
    ['haproxy', () => startHaproxy(upstream.port, tmp, opts.readyTimeoutMs)],
    ['gateway', () => startGateway('gateway', opts.gatewayRoot, upstream.port, tmp, opts.readyTimeoutMs)],
    ['gateway-10k', () => startGateway('gateway-10k', opts.gatewayRoot, upstream.port, tmp, opts.readyTimeoutMs)],
    ['gateway-plugins', () => startGateway('gateway-plugins', opts.gatewayRoot, upstream.port, tmp, opts.readyTimeoutMs)],
    ['gateway-security', () => startGateway('gateway-security', opts.gatewayRoot, upstream.port, tmp, opts.readyTimeoutMs)],
    ['gateway-transformer', () => startGateway('gateway-transformer', opts.gatewayRoot, upstream.port, tmp, opts.readyTimeoutMs)],
    ['gateway-cache', () => startGateway('gateway-cache', opts.gatewayRoot, upstream.port, tmp, opts.readyTimeoutMs)],
    ['gateway-deadlog', () => startGateway('gateway-deadlog', opts.gatewayRoot, upstream.port, tmp, opts.readyTimeoutMs)],
    ['gateway-otel', async () => startGateway('gateway-otel', opts.gatewayRoot, upstream.port, tmp, opts.readyTimeoutMs, (await startedTraceSink()).port)],
    ['gateway-otel-unsampled', async () => startGateway('gateway-otel-unsampled', opts.gatewayRoot, upstream.port, tmp, opts.readyTimeoutMs, (await startedTraceSink()).port)],
    ['gateway-otel-dead', () => startGateway('gateway-otel-dead', opts.gatewayRoot, upstream.port, tmp, opts.readyTimeoutMs)],
    ['gateway-wasm', () => startGateway('gateway-wasm', opts.gatewayRoot, upstream.port, tmp, opts.readyTimeoutMs)],
    ['gateway-ts', () => startGateway('gateway-ts', opts.gatewayRoot, upstream.port, tmp, opts.readyTimeoutMs)],
  ];
  for (const [id, start] of starters) {
    if (!wanted.has(id)) continue;
    log(`starting ${labelOf(id)}…`);
    try {
      running.set(id, await start());
    } catch (e) {
      startFailures.set(id, 'did not start (see above)');
      process.stdout.write(`FAILED to start ${labelOf(id)}: ${errMsg(e)}\n\n`);
    }
  }
  if (opts.keepTmp) log(`generated configs kept in ${tmp}`);

  // ---- scenarios ----------------------------------------------------------------------------
  const results: ScenarioResult[] = [];
  const warmed = new Set<TargetId>();
  let pluginCost: PluginCostReport | undefined;
  const wasmCost: Partial<Record<TargetId, PluginCostReport>> = {};
  for (const scenario of scenarios) {
    const rows: TargetRow[] = scenario.targets.map((t) => ({ target: t, label: labelOf(t), runs: [] }));
    const rowOf = (t: TargetId): TargetRow => rows.find((r) => r.target === t) as TargetRow;
    const h2 = scenario.protocol === 'h2';
    const urlOf = (r: Running): string => (h2 ? h2BaseUrl(r) : baseUrl(r)) + scenario.path;
    const loader = h2 ? 'h2load' : opts.loader;
    // Preflight: each target must answer this scenario's path with 200 and the full body.
    for (const row of rows) {
      const r = running.get(row.target);
      if (r === undefined) { row.failure = startFailures.get(row.target) ?? 'not started'; continue; }
      try {
        const res = h2 ? await http2Get(urlOf(r), 10_000, scenario.request) : await httpGet(urlOf(r), 10_000, scenario.request);
        const notGrpc = scenario.grpc === true ? grpcFailure(res) : undefined;
        if (res.status !== 200 || res.bytes !== scenario.bodyBytes) {
          row.failure = `preflight ${scenario.request?.method ?? 'GET'} ${scenario.path} answered HTTP ${res.status} with ${res.bytes} bytes (expected 200 with ${scenario.bodyBytes})`;
        } else if (notGrpc !== undefined) {
          row.failure = `preflight gRPC call ${scenario.path} was not a success: ${notGrpc}`;
        }
      } catch (e) {
        row.failure = `preflight ${scenario.request?.method ?? 'GET'} ${scenario.path} failed: ${errMsg(e)}` + outputBlock(r.procs[0]);
      }
    }
    const active = (): TargetId[] => scenario.targets.filter((t) => rowOf(t).failure === undefined);
    for (let round = 0; round < opts.rounds; round++) {
      const order = active();
      const rotated = order.map((_, i) => order[(i + round) % order.length]);
      for (const t of rotated) {
        const r = running.get(t) as Running;
        const row = rowOf(t);
        const url = urlOf(r);
        try {
          // A Node process runs its request path in slower code for its first ~10 s of load
          // (measured: the 5-plugin gateway's CPU per request falls from ~58 to ~42 µs over
          // its first 15 s; the no-plugin one settles within 5 s): a target is warmed fully
          // once, so no target's first rounds are measured in that state; later scenarios
          // only warm the new path.
          const warmup = warmed.has(t) ? Math.min(1, opts.warmup) : opts.warmup;
          if (round === 0 && warmup > 0) {
            warmed.add(t);
            log(`[${scenario.id}] warm-up ${row.label} (${warmup} s)`);
            await runLoad({ loader, url, connections: opts.connections, durationS: warmup, tmpDir: tmp, request: scenario.request });
          }
          const cpu0 = processTreeCpuMs(r.procs[0]?.child.pid);
          const res: LoadResult = await runLoad({ loader, url, connections: opts.connections, durationS: opts.duration, tmpDir: tmp, request: scenario.request });
          const cpu1 = processTreeCpuMs(r.procs[0]?.child.pid);
          res.rssMiB = processTreeRssMiB(r.procs[0]?.child.pid);
          if (cpu0 !== undefined && cpu1 !== undefined && res.requests > 0) res.cpuUsPerRequest = ((cpu1 - cpu0) * 1000) / res.requests;
          row.runs.push(res);
          const bad = res.errors + res.non2xx;
          log(`[${scenario.id}] round ${round + 1}/${opts.rounds} ${row.label.padEnd(24)} ${Math.round(res.rps).toString().padStart(7)} req/s  p50 ${res.p50Ms.toFixed(2)} ms  p99 ${res.p99Ms.toFixed(2)} ms${bad > 0 ? `  ${bad} errors` : ''}`);
        } catch (e) {
          row.failure = `load run failed: ${errMsg(e)}`;
        }
        const dead = r.procs.find((p) => !p.alive);
        if (dead !== undefined) row.failure = `${dead.name} died during the run (${dead.exitDescription})` + outputBlock(dead);
      }
    }
    rows.forEach(summarize);
    const res: ScenarioResult = { scenario, rows, goals: goalsFor(scenario, rows) };
    results.push(res);
    process.stdout.write(scenarioTable(res) + '\n\n');
    if (scenario.id === 'wasm') {
      for (const t of ['gateway-wasm', 'gateway-ts'] as const) {
        const port = running.get(t)?.metricsPort;
        if (port === undefined || !rows.some((r) => r.target === t && r.failure === undefined)) continue;
        try {
          const cost = await scrapePluginCost(port);
          wasmCost[t] = cost;
          process.stdout.write(formatCallCost(TARGET_LABELS[t], cost) + '\n');
        } catch (e) {
          log(`[wasm] per-call cost of ${t} not available: ${errMsg(e)}`);
        }
      }
      process.stdout.write('\n');
    }
    const withSecurity = running.get('gateway-security');
    if (scenario.id === 'security' && withSecurity?.metricsPort !== undefined && rows.some((r) => r.target === 'gateway-security' && r.failure === undefined)) {
      try {
        process.stdout.write(formatPluginCost(await scrapePluginCost(withSecurity.metricsPort)) + '\n\n');
      } catch (e) {
        log(`[security] per-plugin cost not available: ${errMsg(e)}`);
      }
    }
    const withPlugins = running.get('gateway-plugins');
    if (scenario.id === 'plugins' && withPlugins?.metricsPort !== undefined && rows.some((r) => r.target === 'gateway-plugins' && r.failure === undefined)) {
      try {
        pluginCost = await scrapePluginCost(withPlugins.metricsPort);
        process.stdout.write(formatPluginCost(pluginCost) + '\n\n');
      } catch (e) {
        log(`[plugins] per-plugin cost not available: ${errMsg(e)}`);
      }
    }
  }

  process.stdout.write(summaryBlock(results) + '\n');

  let aiTtft: AiTtftResult | undefined;
  if (opts.aiTtftSamples > 0) {
    log(`[ai-ttft] time to first token: ${opts.aiTtftSamples} streamed chats per side and concurrency`);
    try {
      const direct = running.get('llm-direct') ?? await startedFakeLlm();
      const gateway = running.get('gateway-ai') ?? await startGateway('gateway-ai', opts.gatewayRoot, direct.port, tmp, opts.readyTimeoutMs);
      aiTtft = await runAiTtft(baseUrl(direct), baseUrl(gateway), opts.aiTtftSamples);
      process.stdout.write('\n' + formatAiTtft(aiTtft) + '\n');
    } catch (e) {
      process.stdout.write(`\ntime to first token not measured: ${errMsg(e)}\n`);
    }
  }

  let tcpEcho: TcpEchoResult | undefined;
  if (opts.tcpEchoSeconds > 0) {
    log(`[tcp-echo] TCP echo through a stream route: ${opts.rounds} runs of ${opts.tcpEchoSeconds} s per side`);
    try {
      const echo = await startTcpEchoServer(opts.readyTimeoutMs);
      const gateway = await startStreamGateway(opts.gatewayRoot, echo.port, tmp, opts.readyTimeoutMs);
      tcpEcho = await runTcpEcho(echo.port, gateway.port, { connections: opts.connections, durationS: opts.tcpEchoSeconds, rounds: opts.rounds });
      process.stdout.write('\n' + formatTcpEcho(tcpEcho) + '\n');
      await Promise.all([...gateway.procs, ...echo.procs].map((p) => p.stop()));
    } catch (e) {
      process.stdout.write(`\nTCP echo not measured: ${errMsg(e)}\n`);
    }
  }

  let publish: PublishLatencyResult | undefined;
  if (opts.publishSamples > 0) {
    log(`[publish] publish-to-serving latency: ${opts.publishSamples} publishes`);
    try {
      publish = await runPublishLatency(tmp, upstream.port, opts.publishSamples);
      process.stdout.write('\n' + formatPublishLatency(publish) + '\n');
    } catch (e) {
      process.stdout.write(`\npublish-to-serving latency not measured: ${errMsg(e)}\n`);
    }
  }

  let apply: ApplyLatencyResult | undefined;
  if (opts.applySamples > 0) {
    log(`[apply] write-to-applied latency: ${opts.applySamples} writes with 10,000 routes`);
    apply = await runApplyLatency(tmp, opts.applySamples);
    process.stdout.write('\n' + formatApplyLatency(apply) + '\n');
  }

  let clusterLatency: ClusterLatencyResult | undefined;
  if (opts.clusterSamples > 0) {
    const missing = await clusterBenchUnavailable();
    if (missing !== undefined) {
      process.stdout.write(`\ncluster latency not measured: ${missing}\n`);
    } else {
      log(`[cluster] write-to-applied across 3 nodes on etcd: ${opts.clusterSamples} writes with 10,000 routes`);
      try {
        clusterLatency = await runClusterLatency(tmp, upstream.port, opts.clusterSamples);
        process.stdout.write('\n' + formatClusterLatency(clusterLatency) + '\n');
      } catch (e) {
        process.stdout.write(`\ncluster latency not measured: ${errMsg(e)}\n`);
      }
    }
  }

  // ---- JSON ---------------------------------------------------------------------------------
  const json = {
    date: new Date().toISOString(),
    machine: { cpus: cpu.length, model: cpu[0]?.model.trim(), node: process.version, platform: `${process.platform} ${process.arch}` },
    options: { ...opts, targets: [...opts.targets], loaderVersion: loaderVer, h2LoaderVersion: h2LoaderVer },
    processes: Object.fromEntries([...running.entries()].map(([k, v]) => [k, v.command])),
    upstream: upstream.command,
    scenarios: results.map((r) => ({
      id: r.scenario.id, title: r.scenario.title, path: r.scenario.path, bodyBytes: r.scenario.bodyBytes,
      rows: r.rows.map((row) => ({ target: row.target, label: row.label, summary: row.summary, invalid: row.invalid, failure: row.failure, runs: row.runs })),
      goals: r.goals.map((g) => ({ ...g, met: goalMet(g) ?? null, text: goalLine(g) })),
    })),
    applyLatency: apply,
    publishLatency: publish,
    clusterLatency,
    aiTtft: aiTtft === undefined ? undefined : { ...aiTtft, goalMs: AI_TTFT_GOAL_MS, met: aiTtftGoalMet(aiTtft) },
    tcpEcho,
    pluginCost,
    wasmCost,
  };
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, JSON.stringify(json, null, 2) + '\n');
  process.stdout.write(`\nJSON results: ${opts.out}\n`);

  const anyFailed = results.some((r) => r.rows.some((row) => row.failure !== undefined));
  if (anyFailed) {
    process.stdout.write('Some targets could not be measured (FAILED rows above); exit code 1.\n');
    process.exitCode = 1;
  }
}

main()
  .catch((e: unknown) => { process.stderr.write(`bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`); process.exitCode = 1; })
  .finally(async () => { await stopAll(); });
