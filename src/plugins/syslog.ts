import { streamLogEntry, type LoggerCommonConf } from './common/log-util.js';
import type { BatchConf } from './common/batch-processor.js';
import { batchedLoggerSchema, defineBatchedLogger, defaultEntry, reportDropped, type BatchedLoggerPrepared, type LogSink } from './common/batched-logger.js';
import { SOCKET_ADDRESS_PROPERTIES, MAX_UDP_PAYLOAD, TcpConnectionPool, sendDatagrams, type TcpTarget } from './common/log-sockets.js';

// APISIX's syslog: each entry is one RFC 5424 message built in the log phase,
//   <46>1 2024-05-01T10:00:00.123Z example.com apisix 4242 - - {"request":…}
// PRI 46 (facility syslog, severity info), VERSION 1, TIMESTAMP in UTC with milliseconds,
// HOSTNAME the request's host (APISIX's ctx.var.host; "-" when it has none or it is not
// printable ASCII), APP-NAME `apisix` (kept, so receivers' rules written for APISIX still
// match), PROCID the worker's pid, no MSGID, no STRUCTURED-DATA, and the entry as JSON.
//
// Over TCP (the default `sock_type`) messages are framed by a trailing LF (RFC 6587's
// non-transparent framing), as APISIX frames them: the JSON never holds a raw LF (it is
// escaped), and rsyslog's imtcp and syslog-ng's network() read it; connections are kept
// alive (`pool_size` idle ones per server) and a batch's messages are written in pieces of
// at most `flush_limit` bytes. Over UDP each message is one datagram (RFC 5426), without
// the LF. A message over `drop_limit` bytes (or over a datagram's 65,507) is dropped and
// counted (`too_large`). What lua-resty-logger-socket does beyond that is not repeated: it
// holds messages until `flush_limit` bytes are buffered, so a quiet route's entries could
// wait for ever; here the batch processor alone decides when a batch leaves.

export interface SyslogConf extends LoggerCommonConf, BatchConf {
  host: string;
  port: number;
  flush_limit: number;
  drop_limit: number;
  timeout: number;
  sock_type: 'tcp' | 'udp';
  pool_size: number;
  tls: boolean;
}

export interface SyslogSink extends LogSink<string> {
  readonly target: TcpTarget;
}

export type SyslogPrepared = BatchedLoggerPrepared<SyslogConf, SyslogSink, string>;

/** PRI of every message: facility 5 (syslog) × 8 + severity 6 (info), as APISIX's rfc5424.encode("SYSLOG", "INFO"). */
const PRI = 5 * 8 + 6;
const APP_NAME = 'apisix';

/** RFC 5424 HOSTNAME: 1 to 255 printable US-ASCII characters, else the NILVALUE. */
export function syslogHostname(host: unknown): string {
  return typeof host === 'string' && /^[\x21-\x7e]{1,255}$/.test(host) ? host : '-';
}

/** One RFC 5424 message, unframed: TCP adds the LF that ends it, UDP sends it as the datagram. */
export function syslogMessage(hostname: string, msg: string, at = new Date()): string {
  return `<${PRI}>1 ${at.toISOString()} ${hostname} ${APP_NAME} ${process.pid} - - ${msg}`;
}

/**
 * A batch's messages, each framed by its LF, grouped into writes of at most `flushLimit`
 * bytes (a message longer than that goes alone); messages over `dropLimit` bytes (framed)
 * are left out and counted.
 */
export function groupMessages(messages: readonly string[], flushLimit: number, dropLimit: number): { writes: string[]; tooLarge: number } {
  const writes: string[] = [];
  let tooLarge = 0;
  let current = '';
  let currentBytes = 0;
  for (const m of messages) {
    const bytes = Buffer.byteLength(m) + 1;
    if (bytes > dropLimit) {
      tooLarge++;
      continue;
    }
    if (currentBytes > 0 && currentBytes + bytes > flushLimit) {
      writes.push(current);
      current = '';
      currentBytes = 0;
    }
    current += `${m}\n`;
    currentBytes += bytes;
  }
  if (currentBytes > 0) writes.push(current);
  return { writes, tooLarge };
}

/** Kept-alive connections per server and settings, shared by every instance of this worker. */
const pools = new Map<string, TcpConnectionPool>();

function poolFor(target: TcpTarget, size: number): TcpConnectionPool {
  const key = JSON.stringify([target.host, target.port, target.tls, target.timeoutMs, size]);
  let pool = pools.get(key);
  if (pool === undefined) {
    // settings no route uses any more must not pile up: a pool whose connections all closed (60 s idle) goes
    for (const [k, p] of pools) if (p.empty) pools.delete(k);
    pool = new TcpConnectionPool(target, size, 60_000, 'syslog');
    pools.set(key, pool);
  }
  return pool;
}

async function sendTcp(conf: SyslogConf, target: TcpTarget, messages: string[]): Promise<void> {
  const { writes, tooLarge } = groupMessages(messages, conf.flush_limit, conf.drop_limit);
  reportDropped('syslog', tooLarge, 'too_large', `a message is over drop_limit (${conf.drop_limit} bytes)`);
  const pool = poolFor(target, conf.pool_size);
  for (const w of writes) await pool.send(w);
}

function sendUdp(conf: SyslogConf, target: TcpTarget, messages: string[]): Promise<void> {
  const limit = Math.min(conf.drop_limit, MAX_UDP_PAYLOAD);
  const datagrams: Buffer[] = [];
  for (const m of messages) {
    const d = Buffer.from(m);
    if (d.length <= limit) datagrams.push(d);
  }
  reportDropped('syslog', messages.length - datagrams.length, 'too_large', `a message is over ${limit} bytes (drop_limit, or a UDP datagram's size)`);
  return sendDatagrams(target, datagrams);
}

export default defineBatchedLogger<SyslogConf, SyslogSink, string>({
  name: 'syslog',
  description: 'Pushes request and response logs as RFC 5424 syslog messages to a syslog server over TCP or UDP, in batches.',
  version: 0.1,
  priority: 401,
  schema: batchedLoggerSchema({
    ...SOCKET_ADDRESS_PROPERTIES,
    flush_limit: { type: 'integer', minimum: 1, default: 4096 },
    drop_limit: { type: 'integer', minimum: 1, default: 1048576 },
    timeout: { type: 'integer', minimum: 1, default: 3000 },
    sock_type: { type: 'string', enum: ['tcp', 'udp'], default: 'tcp' },
    pool_size: { type: 'integer', minimum: 5, default: 5 },
    tls: { type: 'boolean', default: false },
  }, ['host', 'port']),
  processorName: 'sys logger',

  sink(conf) {
    if (conf.tls && conf.sock_type === 'udp') throw new Error('tls: syslog over UDP cannot use TLS (use sock_type tcp)');
    const target: TcpTarget = { host: conf.host, port: conf.port, tls: conf.tls, timeoutMs: conf.timeout };
    return {
      target,
      send: (messages) => (conf.sock_type === 'udp' ? sendUdp(conf, target, messages) : sendTcp(conf, target, messages)),
    };
  },

  entry: (p, ctx) => syslogMessage(syslogHostname(ctx.var('host')), JSON.stringify(defaultEntry(p, ctx))),
  // a session has no host (APISIX's ctx.var.host is nil in its stream subsystem)
  streamEntry: (p, session) => syslogMessage('-', JSON.stringify(streamLogEntry(p.format, session))),

  close() {
    for (const pool of pools.values()) pool.close();
    pools.clear();
  },
});
