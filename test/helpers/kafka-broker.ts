// A one-node Kafka broker for tests, on 127.0.0.1, speaking the part of the Kafka
// protocol (https://kafka.apache.org/protocol) a producer needs: ApiVersions, Metadata
// (this node leads every partition of every topic asked for, created on first mention),
// Produce (record batches v2 decoded, CRC-32C checked, uncompressed or gzip) and SASL
// (SaslHandshake + SaslAuthenticate with PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), over plain
// TCP or TLS. It keeps every produced record for the test to assert on, can be told to
// answer Produce with an error code or to drop the connection, and can be stopped and
// started again on the same port (its log survives). No real Kafka runs here: this is
// what the kafka-logger tests talk to (the unit test checks it against kafkajs).
import { after } from 'node:test';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { CorruptBatchError, WireReader, WireWriter, decodeRecordBatches, type RecordHeader } from './kafka-wire.js';

export const API = { Produce: 0, Metadata: 3, SaslHandshake: 17, ApiVersions: 18, SaslAuthenticate: 36 } as const;

/** The versions this broker implements, all non-flexible (no tagged fields). */
const SUPPORTED: Record<number, [number, number]> = {
  [API.Produce]: [3, 7],
  [API.Metadata]: [4, 6],
  [API.SaslHandshake]: [0, 1],
  [API.ApiVersions]: [0, 2],
  [API.SaslAuthenticate]: [0, 1],
};

export const KafkaError = {
  NONE: 0, CORRUPT_MESSAGE: 2, NOT_LEADER_OR_FOLLOWER: 6, REQUEST_TIMED_OUT: 7, INVALID_TOPIC: 17,
  INVALID_REQUIRED_ACKS: 21, TOPIC_AUTHORIZATION_FAILED: 29, UNSUPPORTED_SASL_MECHANISM: 33,
  ILLEGAL_SASL_STATE: 34, UNSUPPORTED_VERSION: 35, SASL_AUTHENTICATION_FAILED: 58,
} as const;

export type SaslMechanism = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

export interface KafkaBrokerOptions {
  /** Partitions of every topic (default 1); `topicPartitions` overrides it per topic. */
  partitions?: number;
  topicPartitions?: Record<string, number>;
  /** Require SASL: only ApiVersions and the SASL requests are answered before a user authenticates. */
  sasl?: { users: Record<string, string>; mechanisms?: SaslMechanism[] };
  /** Serve TLS with this certificate. */
  tls?: { cert: string; key: string };
}

export interface ProducedRecord {
  topic: string;
  partition: number;
  offset: bigint;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  /** 0 none, 1 gzip. */
  compression: number;
}

export interface ProduceRequestSeen { version: number; acks: number; timeoutMs: number; records: number }

export interface KafkaBroker {
  host: '127.0.0.1';
  port: number;
  /** `127.0.0.1:<port>`. */
  address: string;
  /** Every record appended, in order, across restarts. */
  readonly records: ProducedRecord[];
  /** Every request received: API key, version and client id. */
  readonly requests: { apiKey: number; version: number; clientId: string | null }[];
  readonly produceRequests: ProduceRequestSeen[];
  /** Users authenticated so far, with the mechanism, one per connection. */
  readonly authenticated: { user: string; mechanism: SaslMechanism }[];
  /** What this broker could not parse or refused as malformed (a test expects none). */
  readonly protocolErrors: string[];
  /** The next `times` Produce requests are answered with `code` on every partition (nothing appended). */
  failProduce(code: number, times?: number): void;
  /** The next `times` Produce requests close their connection unanswered. */
  dropOnProduce(times?: number): void;
  /** Resolves once `count` records are in the log (rejects after `timeoutMs`). */
  waitForRecords(count: number, timeoutMs?: number): Promise<ProducedRecord[]>;
  /** Closes the listener and every connection. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

interface ScramExchange { mechanism: SaslMechanism; user: string; password: string; nonce: string; salt: Buffer; serverFirst: string; clientFirstBare: string }

interface ConnState {
  socket: net.Socket;
  pending: Buffer;
  mechanism: SaslMechanism | undefined;
  scram: ScramExchange | undefined;
  user: string | undefined;
}

const MAX_FRAME = 64 * 1024 * 1024;
const SCRAM_ITERATIONS = 4096;
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/** Thrown by a handler to end the connection without an answer, as a broker does. */
class CloseConnection extends Error {}

export async function startKafkaBroker(opts: KafkaBrokerOptions = {}): Promise<KafkaBroker> {
  const records: ProducedRecord[] = [];
  const requests: KafkaBroker['requests'] = [];
  const produceRequests: ProduceRequestSeen[] = [];
  const authenticated: KafkaBroker['authenticated'] = [];
  const protocolErrors: string[] = [];
  const logEnd = new Map<string, bigint>();
  const topics = new Set<string>();
  const sockets = new Set<net.Socket>();
  const mechanisms = opts.sasl === undefined ? [] : (opts.sasl.mechanisms ?? ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']);
  let produceFailures: { code: number; left: number } = { code: 0, left: 0 };
  let produceDrops = 0;
  let port = 0;
  let server: net.Server | undefined;

  const partitionsOf = (topic: string): number => opts.topicPartitions?.[topic] ?? opts.partitions ?? 1;

  function onConnection(socket: net.Socket): void {
    sockets.add(socket);
    const conn: ConnState = { socket, pending: Buffer.alloc(0), mechanism: undefined, scram: undefined, user: undefined };
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      conn.pending = conn.pending.length === 0 ? chunk : Buffer.concat([conn.pending, chunk]);
      while (conn.pending.length >= 4 && !socket.destroyed) {
        const size = conn.pending.readInt32BE(0);
        if (size < 0 || size > MAX_FRAME) {
          protocolErrors.push(`frame size ${size}`);
          socket.destroy();
          return;
        }
        if (conn.pending.length < 4 + size) return;
        const frame = conn.pending.subarray(4, 4 + size);
        conn.pending = conn.pending.subarray(4 + size);
        handleFrame(conn, frame);
      }
    });
  }

  function handleFrame(conn: ConnState, frame: Buffer): void {
    let correlationId = 0;
    try {
      const r = new WireReader(frame);
      const apiKey = r.int16();
      const version = r.int16();
      correlationId = r.int32();
      const clientId = r.nullableString();
      requests.push({ apiKey, version, clientId });
      const body = dispatch(conn, apiKey, version, r);
      if (body !== null) {
        const head = Buffer.alloc(8);
        head.writeInt32BE(4 + body.length, 0);
        head.writeInt32BE(correlationId, 4);
        conn.socket.write(Buffer.concat([head, body]));
      }
    } catch (err) {
      if (!(err instanceof CloseConnection)) protocolErrors.push(`request ${correlationId}: ${(err as Error).message}`);
      conn.socket.destroy();
    }
  }

  function dispatch(conn: ConnState, apiKey: number, version: number, r: WireReader): Buffer | null {
    const range = SUPPORTED[apiKey];
    if (apiKey === API.ApiVersions) return apiVersions(version);
    if (range === undefined || version < range[0] || version > range[1]) {
      throw new Error(`unsupported request: api ${apiKey} version ${version}`);
    }
    if (apiKey === API.SaslHandshake) return saslHandshake(conn, r);
    if (apiKey === API.SaslAuthenticate) return saslAuthenticate(conn, version, r);
    if (mechanisms.length > 0 && conn.user === undefined) {
      throw new Error(`api ${apiKey} before SASL authentication`);
    }
    if (apiKey === API.Metadata) return metadata(version, r);
    return produce(version, r);
  }

  function apiVersions(version: number): Buffer {
    const [min, max] = SUPPORTED[API.ApiVersions]!;
    const supported = version >= min && version <= max;
    const w = new WireWriter().int16(supported ? KafkaError.NONE : KafkaError.UNSUPPORTED_VERSION);
    w.array(Object.entries(SUPPORTED), (a, [key, [lo, hi]]) => a.int16(Number(key)).int16(lo).int16(hi));
    // an unsupported version is answered in the v0 shape, which every client can read
    if (supported && version >= 1) w.int32(0);
    return w.toBuffer();
  }

  function metadata(version: number, r: WireReader): Buffer {
    const asked = r.array((x) => x.string());
    r.boolean(); // allow_auto_topic_creation: topics are always created here
    for (const t of asked ?? []) if (TOPIC_NAME.test(t)) topics.add(t);
    const listed = asked ?? [...topics];
    const w = new WireWriter().int32(0)
      .array([1], (b) => b.int32(1).string('127.0.0.1').int32(port).string(null))
      .string('gatehouse-test-cluster')
      .int32(1);
    w.array(listed, (t, topic) => {
      const valid = TOPIC_NAME.test(topic);
      t.int16(valid ? KafkaError.NONE : KafkaError.INVALID_TOPIC).string(topic).boolean(false);
      const partitions = valid ? Array.from({ length: partitionsOf(topic) }, (_, i) => i) : [];
      t.array(partitions, (p, index) => {
        p.int16(KafkaError.NONE).int32(index).int32(1).array([1], (x, n) => x.int32(n)).array([1], (x, n) => x.int32(n));
        if (version >= 5) p.array([], () => undefined);
      });
    });
    return w.toBuffer();
  }

  function produce(version: number, r: WireReader): Buffer | null {
    r.nullableString(); // transactional_id
    const acks = r.int16();
    const timeoutMs = r.int32();
    const data = r.array((t) => ({
      topic: t.string(),
      partitions: t.array((p) => ({ index: p.int32(), records: p.bytes() })) ?? [],
    })) ?? [];
    const seen: ProduceRequestSeen = { version, acks, timeoutMs, records: 0 };
    produceRequests.push(seen);
    if (produceDrops > 0) {
      produceDrops--;
      throw new CloseConnection();
    }
    const failing = produceFailures.left > 0 ? produceFailures.code : KafkaError.NONE;
    if (failing !== KafkaError.NONE) produceFailures.left--;
    const results = data.map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map(({ index, records }) => {
        if (failing !== KafkaError.NONE) return { index, code: failing, base: -1n };
        if (acks !== 0 && acks !== 1 && acks !== -1) return { index, code: KafkaError.INVALID_REQUIRED_ACKS, base: -1n };
        if (!TOPIC_NAME.test(topic)) return { index, code: KafkaError.INVALID_TOPIC, base: -1n };
        if (index < 0 || index >= partitionsOf(topic)) return { index, code: KafkaError.NOT_LEADER_OR_FOLLOWER, base: -1n };
        return append(topic, index, records, seen);
      }),
    }));
    if (acks === 0) return null;
    const w = new WireWriter().array(results, (t, { topic, partitions }) => {
      t.string(topic).array(partitions, (p, { index, code, base }) => {
        p.int32(index).int16(code).int64(base).int64(-1n);
        if (version >= 5) p.int64(0n);
      });
    });
    return w.int32(0).toBuffer();
  }

  function append(topic: string, partition: number, data: Buffer | null, seen: ProduceRequestSeen): { index: number; code: number; base: bigint } {
    const key = `${topic}/${partition}`;
    const base = logEnd.get(key) ?? 0n;
    let batches;
    try {
      batches = decodeRecordBatches(data ?? Buffer.alloc(0));
    } catch (err) {
      protocolErrors.push(`produce ${key}: ${(err as Error).message}`);
      if (err instanceof CorruptBatchError) return { index: partition, code: KafkaError.CORRUPT_MESSAGE, base: -1n };
      throw err;
    }
    topics.add(topic);
    let next = base;
    for (const batch of batches) {
      for (const rec of batch.records) {
        records.push({ topic, partition, offset: next++, timestamp: rec.timestamp, key: rec.key, value: rec.value, headers: rec.headers, compression: batch.compression });
        seen.records++;
      }
    }
    logEnd.set(key, next);
    return { index: partition, code: KafkaError.NONE, base };
  }

  function saslHandshake(conn: ConnState, r: WireReader): Buffer {
    const wanted = r.string();
    const known = (mechanisms as string[]).includes(wanted);
    if (known) conn.mechanism = wanted as SaslMechanism;
    return new WireWriter().int16(known ? KafkaError.NONE : KafkaError.UNSUPPORTED_SASL_MECHANISM)
      .array(mechanisms, (w, m) => w.string(m)).toBuffer();
  }

  function saslAuthenticate(conn: ConnState, version: number, r: WireReader): Buffer {
    const token = r.bytes() ?? Buffer.alloc(0);
    const answer = (code: number, message: string | null, bytes: Buffer): Buffer => {
      const w = new WireWriter().int16(code).string(message).bytes(bytes);
      if (version >= 1) w.int64(0n);
      if (code !== KafkaError.NONE) setImmediate(() => conn.socket.destroy()); // a failed authentication ends the connection
      return w.toBuffer();
    };
    const users = opts.sasl?.users ?? {};
    if (conn.mechanism === undefined || conn.user !== undefined) return answer(KafkaError.ILLEGAL_SASL_STATE, 'no SASL handshake in progress', Buffer.alloc(0));
    const failed = (): Buffer => answer(KafkaError.SASL_AUTHENTICATION_FAILED, `Authentication failed during authentication due to invalid credentials with SASL mechanism ${conn.mechanism}`, Buffer.alloc(0));
    if (conn.mechanism === 'PLAIN') {
      const [, user, password] = token.toString('utf8').split('\0');
      if (user === undefined || password === undefined || users[user] !== password) return failed();
      conn.user = user;
      authenticated.push({ user, mechanism: 'PLAIN' });
      return answer(KafkaError.NONE, null, Buffer.alloc(0));
    }
    const step = conn.scram === undefined ? scramFirst(conn.mechanism, token.toString('utf8'), users) : scramFinal(conn.scram, token.toString('utf8'));
    if (step === undefined) return failed();
    if (conn.scram === undefined) conn.scram = step.exchange;
    else {
      conn.user = conn.scram.user;
      authenticated.push({ user: conn.user, mechanism: conn.mechanism });
    }
    return answer(KafkaError.NONE, null, Buffer.from(step.reply, 'utf8'));
  }

  function listen(): Promise<void> {
    const s = opts.tls === undefined ? net.createServer(onConnection) : tls.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onConnection);
    server = s;
    return new Promise((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  await listen();
  const broker: KafkaBroker = {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    records, requests, produceRequests, authenticated, protocolErrors,
    failProduce(code, times = 1) { produceFailures = { code, left: times }; },
    dropOnProduce(times = 1) { produceDrops = times; },
    async waitForRecords(count, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (records.length < count) {
        if (Date.now() > deadline) throw new Error(`${records.length} of ${count} records after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return records.slice(0, count);
    },
    async stop() {
      const s = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async start() {
      if (server === undefined) await listen();
    },
  };
  return broker;
}

/**
 * For a test file: `broker()` starts one that is stopped after the file's tests, with
 * whatever else was `defer`red (the last first).
 */
export function kafkaTestScope(): { broker(opts?: KafkaBrokerOptions): Promise<KafkaBroker>; defer(cleanup: () => Promise<void>): void } {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  return {
    async broker(opts = {}) {
      const b = await startKafkaBroker(opts);
      cleanups.push(() => b.stop());
      return b;
    },
    defer(cleanup) {
      cleanups.push(cleanup);
    },
  };
}

// SCRAM (RFC 5802 / RFC 7677), server side: client-first → server-first → client-final → server-final.

const SCRAM_HASH: Record<string, 'sha256' | 'sha512'> = { 'SCRAM-SHA-256': 'sha256', 'SCRAM-SHA-512': 'sha512' };

function scramAttributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq === 1) out.set(part[0]!, part.slice(2));
  }
  return out;
}

function scramFirst(mechanism: SaslMechanism, clientFirst: string, users: Record<string, string>): { exchange: ScramExchange; reply: string } | undefined {
  // gs2 header "n,," (no channel binding, no authzid) then the bare message
  const gs2End = clientFirst.indexOf(',', clientFirst.indexOf(',') + 1);
  if (!clientFirst.startsWith('n,') || gs2End === -1) return undefined;
  const clientFirstBare = clientFirst.slice(gs2End + 1);
  const attrs = scramAttributes(clientFirstBare);
  const user = attrs.get('n')?.replace(/=2C/g, ',').replace(/=3D/g, '=');
  const clientNonce = attrs.get('r');
  if (user === undefined || clientNonce === undefined || users[user] === undefined) return undefined;
  const nonce = clientNonce + randomBytes(18).toString('base64');
  const salt = randomBytes(16);
  const serverFirst = `r=${nonce},s=${salt.toString('base64')},i=${SCRAM_ITERATIONS}`;
  return { exchange: { mechanism, user, password: users[user]!, nonce, salt, serverFirst, clientFirstBare }, reply: serverFirst };
}

function scramFinal(x: ScramExchange, clientFinal: string): { exchange: ScramExchange; reply: string } | undefined {
  const proofAt = clientFinal.lastIndexOf(',p=');
  if (proofAt === -1) return undefined;
  const withoutProof = clientFinal.slice(0, proofAt);
  const attrs = scramAttributes(withoutProof);
  if (attrs.get('r') !== x.nonce || attrs.get('c') !== Buffer.from('n,,').toString('base64')) return undefined;
  const hash = SCRAM_HASH[x.mechanism]!;
  const hmac = (key: Buffer, text: string): Buffer => createHmac(hash, key).update(text).digest();
  const salted = pbkdf2Sync(x.password, x.salt, SCRAM_ITERATIONS, hash === 'sha256' ? 32 : 64, hash);
  const clientKey = hmac(salted, 'Client Key');
  const storedKey = createHash(hash).update(clientKey).digest();
  const authMessage = `${x.clientFirstBare},${x.serverFirst},${withoutProof}`;
  const signature = hmac(storedKey, authMessage);
  const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64');
  if (proof.length !== signature.length) return undefined;
  const recovered = Buffer.from(proof.map((b, i) => b ^ signature[i]!));
  if (!timingSafeEqual(createHash(hash).update(recovered).digest(), storedKey)) return undefined;
  return { exchange: x, reply: `v=${hmac(hmac(salted, 'Server Key'), authMessage).toString('base64')}` };
}
