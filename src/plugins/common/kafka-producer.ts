// kafka-logger's side of Kafka: producers on kafkajs, shared by every instance of this
// worker that names the same brokers and settings (lua-resty-kafka's producer cache),
// in the two modes of APISIX's `producer_type`:
// - sync: a batch is sent at once and `send` resolves when the broker acknowledged it
//   (`required_acks`); a failure goes back to the batch processor, which retries it;
// - async: `send` only buffers the message; the buffer is flushed one Produce request at a
//   time, when `producer_batch_num` messages or `producer_batch_size` bytes wait or
//   `producer_time_linger` passed. It holds at most `producer_max_buffering` messages
//   (and MAX_BUFFERED_BYTES); a full buffer refuses ("buffer overflow", as lua-resty-kafka).
//   A failed flush is retried with back-off (RETRY_LIMIT times, then dropped); while it
//   fails the buffer refuses new messages, so the batch processor's own back-off and
//   bound take over, and after DOWN_AFTER_FAILURES failures in a row only the message
//   being retried is kept: a dead broker holds next to nothing.
// kafkajs retries internally once (a leader moved, a stale connection); its own log lines
// go to debug: the warnings that matter are ours, one per interval.
import kafkajs, { type KafkaConfig, type Producer, type SASLOptions } from 'kafkajs';
import { drainWithin, type BatchProcessorLog } from './batch-processor.js';
import { WarnThrottle } from './warn-throttle.js';

const { Kafka, Partitioners, logLevel } = kafkajs;

export type KafkaSaslMechanism = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

export interface KafkaProducerSettings {
  /** `host:port` of the bootstrap brokers. */
  brokers: string[];
  /** One SASL login for every connection (kafkajs has one per client). */
  sasl: { mechanism: KafkaSaslMechanism; user: string; password: string } | undefined;
  /** TLS to the brokers; `verify` checks their certificates against Node's CAs (plus NODE_EXTRA_CA_CERTS). */
  tls: { verify: boolean } | undefined;
  /** Connect, authenticate and request timeout, and the Produce request's own timeout. */
  timeoutMs: number;
  requiredAcks: 1 | -1;
  producerType: 'async' | 'sync';
  /** Instances with another cluster_name get a producer of their own. */
  clusterName: number;
  batchNum: number;
  batchSize: number;
  maxBuffering: number;
  lingerMs: number;
  /** Metadata older than this is fetched again before a send. */
  metadataMaxAgeMs: number;
}

export interface KafkaOutMessage {
  topic: string;
  key: string | undefined;
  value: string;
  /** Log entries it carries (counted when it is dropped). */
  entries: number;
}

export interface KafkaProducerHooks {
  log: BatchProcessorLog & { debug(obj: object, msg: string): void };
  /** Log entries of accepted messages that were given up on. */
  onDrop(entries: number): void;
}

/** The async buffer's byte bound, whatever producer_max_buffering allows. */
export const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
/** Retries of a failed async flush before its messages are dropped (lua-resty-kafka's max_retry). */
export const RETRY_LIMIT = 3;
/** Failed flushes in a row after which only the message being retried is kept. */
export const DOWN_AFTER_FAILURES = 3;
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 30_000;
const WARN_INTERVAL_MS = 10_000;
/** A producer unused this long, with nothing buffered, is closed (it reconnects if used again). */
const IDLE_CLOSE_MS = 10 * 60_000;

interface Buffered { message: KafkaOutMessage; bytes: number }

const KAFKAJS_MECHANISMS = { PLAIN: 'plain', 'SCRAM-SHA-256': 'scram-sha-256', 'SCRAM-SHA-512': 'scram-sha-512' } as const;

/** The kafkajs client options for `s` (no secret is ever logged: kafkajs logs go through `logTo`, fields picked). */
export function kafkaClientConfig(s: KafkaProducerSettings, logTo: KafkaProducerHooks['log']): KafkaConfig {
  const config: KafkaConfig = {
    clientId: 'gatehouse',
    brokers: s.brokers,
    connectionTimeout: s.timeoutMs,
    authenticationTimeout: s.timeoutMs,
    requestTimeout: s.timeoutMs,
    enforceRequestTimeout: true,
    retry: { retries: 1, initialRetryTime: MIN_BACKOFF_MS, maxRetryTime: 1000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, log }) => logTo.debug({ kafkajs: namespace, broker: log.broker, error: log.error }, String(log.message)),
  };
  if (s.tls !== undefined) config.ssl = { rejectUnauthorized: s.tls.verify };
  if (s.sasl !== undefined) {
    config.sasl = { mechanism: KAFKAJS_MECHANISMS[s.sasl.mechanism], username: s.sasl.user, password: s.sasl.password } as SASLOptions;
  }
  return config;
}

/** Groups messages by topic, keeping their order, for one Produce request. */
export function topicMessages(messages: readonly KafkaOutMessage[]): { topic: string; messages: { key: string | null; value: string }[] }[] {
  const byTopic = new Map<string, { key: string | null; value: string }[]>();
  for (const m of messages) {
    let list = byTopic.get(m.topic);
    if (list === undefined) byTopic.set(m.topic, list = []);
    list.push({ key: m.key ?? null, value: m.value });
  }
  return [...byTopic].map(([topic, list]) => ({ topic, messages: list }));
}

export class KafkaProducer {
  private readonly producer: Producer;
  private connecting: Promise<void> | undefined;
  private closed = false;
  lastUsed = Date.now();
  // async mode
  private buffer: Buffered[] = [];
  private bufferedBytes = 0;
  private firstBufferedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing = false;
  private failureStreak = 0;
  private headAttempts = 0;
  private pausedUntil = 0;
  private lastError: string | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly report: FlushReport;

  constructor(private readonly s: KafkaProducerSettings, private readonly hooks: KafkaProducerHooks) {
    const kafka = new Kafka(kafkaClientConfig(s, hooks.log));
    this.producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      metadataMaxAge: s.metadataMaxAgeMs,
      allowAutoTopicCreation: true,
      idempotent: false,
    });
    this.report = new FlushReport(`Kafka producer[${s.brokers.join(',')}]`, hooks.log);
  }

  /** Messages waiting in the async buffer. */
  get buffered(): number {
    return this.buffer.length;
  }

  /**
   * sync: resolves once the broker acknowledged the message. async: resolves once it is
   * buffered; rejects when the buffer is full or failing.
   */
  send(message: KafkaOutMessage): Promise<void> {
    this.lastUsed = Date.now();
    if (this.s.producerType === 'sync') return this.produce([message]);
    try {
      this.enqueue(message);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private connect(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('kafka producer closed'));
    // a failed connect is tried again by the next send
    this.connecting ??= this.producer.connect().catch((err: Error) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  private async produce(messages: readonly KafkaOutMessage[]): Promise<void> {
    await this.connect();
    await this.producer.sendBatch({ acks: this.s.requiredAcks, timeout: this.s.timeoutMs, topicMessages: topicMessages(messages) });
  }

  private enqueue(message: KafkaOutMessage): void {
    if (this.closed) throw new Error('kafka producer closed');
    // while a flush is failing, new messages would only pile up behind it
    if (this.failureStreak > 0 && this.buffer.length > 0) throw new Error(`kafka producer failing: ${this.lastError ?? 'unknown error'}`);
    const bytes = Buffer.byteLength(message.value) + (message.key === undefined ? 0 : Buffer.byteLength(message.key));
    if (this.buffer.length >= this.s.maxBuffering || this.bufferedBytes + bytes > MAX_BUFFERED_BYTES) throw new Error('buffer overflow');
    if (this.buffer.length === 0) this.firstBufferedAt = Date.now();
    this.buffer.push({ message, bytes });
    this.bufferedBytes += bytes;
    this.schedule();
  }

  /** The messages of the next Produce request: up to producer_batch_num and producer_batch_size (at least one). */
  private nextChunk(): number {
    let n = 0;
    let bytes = 0;
    while (n < this.buffer.length && n < this.s.batchNum) {
      bytes += this.buffer[n]!.bytes;
      if (n > 0 && bytes > this.s.batchSize) break;
      n++;
    }
    return n;
  }

  private schedule(): void {
    if (this.flushing || this.buffer.length === 0) return;
    const now = Date.now();
    const full = this.buffer.length >= this.s.batchNum || this.bufferedBytes >= this.s.batchSize;
    const due = this.failureStreak > 0 ? this.pausedUntil : full ? now : this.firstBufferedAt + this.s.lingerMs;
    if (due <= now) {
      void this.flush();
      return;
    }
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = undefined; this.schedule(); }, due - now);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flushing = true;
    const n = this.nextChunk();
    const chunk = this.buffer.slice(0, n).map((b) => b.message);
    try {
      await this.produce(chunk);
      this.release(n);
      this.failureStreak = 0;
      this.headAttempts = 0;
      this.lastError = undefined;
    } catch (err) {
      this.lastError = (err as Error)?.message ?? String(err);
      this.failureStreak++;
      this.pausedUntil = Date.now() + Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** Math.min(this.failureStreak - 1, 20));
      let dropped = 0;
      if (++this.headAttempts > RETRY_LIMIT) {
        dropped += this.release(n);
        this.headAttempts = 0;
      }
      // the broker counts as down: keep only what the next attempt will carry
      if (this.failureStreak >= DOWN_AFTER_FAILURES && this.buffer.length > 0) {
        const keep = this.nextChunk();
        dropped += this.entriesOf(this.buffer.splice(keep));
        this.bufferedBytes = this.buffer.reduce((sum, b) => sum + b.bytes, 0);
      }
      if (dropped > 0) this.hooks.onDrop(dropped);
      this.report.failure(this.lastError, dropped);
    } finally {
      this.flushing = false;
      this.schedule();
      if (this.buffer.length === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Removes the first `n` buffered messages; returns the log entries they carried. */
  private release(n: number): number {
    const gone = this.buffer.splice(0, n);
    for (const b of gone) this.bufferedBytes -= b.bytes;
    if (this.buffer.length > 0) this.firstBufferedAt = Date.now();
    return this.entriesOf(gone);
  }

  private entriesOf(list: readonly Buffered[]): number {
    return list.reduce((sum, b) => sum + b.message.entries, 0);
  }

  /** Sends what is buffered (waiting at most `ms`), then disconnects; what is left is dropped and counted. */
  async close(ms: number): Promise<void> {
    if (this.buffer.length > 0 && !this.closed) {
      this.firstBufferedAt = 0;
      this.schedule();
      await drainWithin([{ drain: () => new Promise<void>((resolve) => this.idleWaiters.push(resolve)) }], ms);
    }
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const left = this.entriesOf(this.buffer.splice(0));
    this.bufferedBytes = 0;
    if (left > 0) this.hooks.onDrop(left);
    await this.producer.disconnect().catch(() => undefined);
  }
}

/** The producers of one plugin generation in this worker, by settings. */
export class KafkaProducerPool {
  private readonly producers = new Map<string, KafkaProducer>();
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly hooks: KafkaProducerHooks) {}

  /** The producer for `settings`; throws once the pool is closed (a batch retried after a reload must not open a new one). */
  get(settings: KafkaProducerSettings): KafkaProducer {
    if (this.closed) throw new Error('kafka producer closed');
    // the key holds the SASL password: it stays in this map, never in a log line
    const key = JSON.stringify(settings);
    let p = this.producers.get(key);
    if (p === undefined) {
      p = new KafkaProducer(settings, this.hooks);
      this.producers.set(key, p);
      this.sweeper ??= setInterval(() => this.sweep(), 60_000).unref();
    }
    return p;
  }

  get size(): number {
    return this.producers.size;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, p] of this.producers) {
      if (p.buffered === 0 && now - p.lastUsed > IDLE_CLOSE_MS) {
        this.producers.delete(key);
        void p.close(0);
      }
    }
  }

  /** Flushes (for at most `ms`) and closes every producer. */
  async closeAll(ms: number): Promise<void> {
    this.closed = true;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    const all = [...this.producers.values()];
    this.producers.clear();
    await Promise.all(all.map((p) => p.close(ms)));
  }
}

/** Failed async flushes, summed into at most one warning per interval. */
class FlushReport {
  private failures = 0;
  private dropped = 0;
  private lastError = '';
  private readonly throttle = new WarnThrottle(WARN_INTERVAL_MS, () => this.say());

  constructor(private readonly name: string, private readonly log: BatchProcessorLog) {}

  failure(message: string, dropped: number): void {
    this.failures++;
    this.dropped += dropped;
    this.lastError = message;
    this.throttle.due();
  }

  private say(): boolean {
    if (this.failures === 0) return false;
    this.log.warn({ failed_attempts: this.failures, dropped: this.dropped, err: this.lastError },
      `${this.name} ${this.failures} failed send(s), last error: ${this.lastError}${this.dropped > 0 ? `; ${this.dropped} entries dropped` : ''}`);
    this.failures = this.dropped = 0;
    return true;
  }
}
