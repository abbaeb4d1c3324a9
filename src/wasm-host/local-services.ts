import { Counter, Gauge, Histogram } from 'prom-client';
import { Status, MetricType } from './abi/constants.js';
import { metricsRegistry } from '../observability/metrics.js';
import type { MetricService, QueueService, SharedDataStore } from './services.js';

// Shared data, shared queues and metrics of the wasm plugins of this worker process.
// Scope (documented in docs/wasm-plugins.md): shared data and queues belong to a vm id,
// which is the plugin's own id unless its config names another, and live in one worker
// process; Gatehouse runs one VM per plugin per worker, so "shared" means shared between
// the root and HTTP contexts of that VM and between plugins that chose the same vm id,
// not across workers. Metrics are process-local too, and the Prometheus export merges
// the workers' values.

class SharedData implements SharedDataStore {
  private readonly entries = new Map<string, { value: Buffer; cas: number }>();
  private nextCas = 1;

  get(key: string): { value: Buffer; cas: number } | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: Buffer, cas: number): number {
    const cur = this.entries.get(key);
    if (cas !== 0 && cur !== undefined && cur.cas !== cas) return Status.CAS_MISMATCH;
    if (cas !== 0 && cur === undefined) return Status.CAS_MISMATCH;
    this.entries.set(key, { value, cas: this.nextCas });
    // 32-bit, never 0 (0 means "unconditional" to the guest)
    this.nextCas = this.nextCas >= 0xffffffff ? 1 : this.nextCas + 1;
    return Status.OK;
  }
}

const shared = new Map<string, SharedData>();

export function sharedDataOf(vmId: string): SharedDataStore {
  let s = shared.get(vmId);
  if (s === undefined) shared.set(vmId, s = new SharedData());
  return s;
}

const MAX_QUEUE_ITEMS = 10_000;

interface Queue {
  readonly vmId: string;
  readonly name: string;
  readonly items: Buffer[];
  onReady: ((id: number) => void) | undefined;
}

class Queues implements QueueService {
  private readonly byId = new Map<number, Queue>();
  private readonly byName = new Map<string, number>();
  private nextId = 1;

  register(vmId: string, name: string, onReady: ((id: number) => void) | undefined): number {
    const key = `${vmId}\0${name}`;
    let id = this.byName.get(key);
    if (id === undefined) {
      id = this.nextId++;
      this.byName.set(key, id);
      this.byId.set(id, { vmId, name, items: [], onReady });
    } else {
      this.byId.get(id)!.onReady = onReady;
    }
    return id;
  }

  resolve(vmId: string, name: string): number | undefined {
    return this.byName.get(`${vmId}\0${name}`);
  }

  enqueue(vmId: string, id: number, value: Buffer): number {
    const q = this.byId.get(id);
    if (q === undefined || q.vmId !== vmId) return Status.NOT_FOUND;
    if (q.items.length >= MAX_QUEUE_ITEMS) return Status.INTERNAL_FAILURE;
    q.items.push(value);
    const ready = q.onReady;
    if (ready !== undefined) setImmediate(() => ready(id));
    return Status.OK;
  }

  dequeue(vmId: string, id: number): Buffer | number {
    const q = this.byId.get(id);
    if (q === undefined || q.vmId !== vmId) return Status.NOT_FOUND;
    return q.items.shift() ?? Status.EMPTY;
  }
}

export const localQueues: QueueService = new Queues();

interface Metric {
  readonly type: number;
  readonly plugin: string;
  readonly prom: Counter<'plugin'> | Gauge<'plugin'> | Histogram<'plugin'>;
  value: bigint;
}

/** Prometheus's name rules: the guest's name prefixed like Envoy's `wasmcustom.`, other characters as `_`. */
export function promMetricName(name: string): string {
  return `wasmcustom_${name.replace(/[^a-zA-Z0-9_:]/g, '_')}`;
}

class Metrics implements MetricService {
  private readonly byId = new Map<number, Metric>();
  private readonly byKey = new Map<string, number>();
  private nextId = 1;

  define(plugin: string, type: number, name: string): number | undefined {
    const key = `${plugin}\0${name}`;
    const known = this.byKey.get(key);
    if (known !== undefined) return this.byId.get(known)!.type === type ? known : undefined;
    const promName = promMetricName(name);
    const existing = metricsRegistry.getSingleMetric(promName);
    const help = `wasm plugin metric ${name}`;
    const want = type === MetricType.COUNTER ? Counter : type === MetricType.GAUGE ? Gauge : Histogram;
    if (existing !== undefined && !(existing instanceof want)) return undefined;
    const prom = (existing ?? new want({ name: promName, help, labelNames: ['plugin'], registers: [metricsRegistry] })) as Metric['prom'];
    const id = this.nextId++;
    this.byId.set(id, { type, plugin, prom, value: 0n });
    this.byKey.set(key, id);
    return id;
  }

  private own(plugin: string, id: number): Metric | undefined {
    const m = this.byId.get(id);
    return m !== undefined && m.plugin === plugin ? m : undefined;
  }

  increment(plugin: string, id: number, delta: bigint): number {
    const m = this.own(plugin, id);
    if (m === undefined) return Status.NOT_FOUND;
    if (m.type === MetricType.HISTOGRAM) return Status.BAD_ARGUMENT;
    if (m.type === MetricType.COUNTER && delta < 0n) return Status.BAD_ARGUMENT;
    m.value += delta;
    if (m.type === MetricType.COUNTER) (m.prom as Counter<'plugin'>).inc({ plugin }, Number(delta));
    else (m.prom as Gauge<'plugin'>).set({ plugin }, Number(m.value));
    return Status.OK;
  }

  record(plugin: string, id: number, value: bigint): number {
    const m = this.own(plugin, id);
    if (m === undefined) return Status.NOT_FOUND;
    if (m.type === MetricType.COUNTER) return Status.BAD_ARGUMENT;
    m.value = value;
    if (m.type === MetricType.GAUGE) (m.prom as Gauge<'plugin'>).set({ plugin }, Number(value));
    else (m.prom as Histogram<'plugin'>).observe({ plugin }, Number(value));
    return Status.OK;
  }

  get(plugin: string, id: number): bigint | undefined {
    return this.own(plugin, id)?.value;
  }
}

export const localMetrics: MetricService = new Metrics();
