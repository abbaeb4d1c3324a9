import { isIP } from 'node:net';
import type { LoggerCommonConf } from './common/log-util.js';
import type { BatchConf } from './common/batch-processor.js';
import { batchedLoggerSchema, defineBatchedLogger, jsonBatch, type BatchedLoggerPrepared, type LogSink } from './common/batched-logger.js';
import { SOCKET_ADDRESS_PROPERTIES, sendOverTcp, type TcpTarget } from './common/log-sockets.js';

// APISIX's tcp-logger: each batch is sent on a new TCP connection (TLS with `tls`) as
// one JSON document, the entry itself when batch_max_size is 1, else an array of them;
// then the connection is closed, which is what ends the document for the server (no
// newline is added, as in APISIX). `timeout` (milliseconds) bounds connecting, the
// handshake and the write.
//
// TLS: APISIX's code passes `tls_options` to the handshake as the server name and does
// not check the certificate, while its docs say `tls` "performs SSL verification".
// Here the certificate is checked (the node's CA store, plus NODE_EXTRA_CA_CERTS) for
// `tls_options` when set, else the host: a log stream carries request details, and a
// collector that cannot be verified is refused rather than trusted silently.

export interface TcpLoggerConf extends LoggerCommonConf, BatchConf {
  host: string;
  port: number;
  tls: boolean;
  tls_options?: string;
  timeout: number;
}

export type TcpLoggerPrepared = BatchedLoggerPrepared<TcpLoggerConf, TcpSink>;

export interface TcpSink extends LogSink {
  readonly target: TcpTarget;
}

/** A DNS name (labels of letters, digits and hyphens), as SNI carries one. */
const SERVER_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Checks `tls_options` (the TLS server name) against `tls`; returns the server name to use, if any. */
export function tlsServerName(conf: { tls: boolean; tls_options?: string }): string | undefined {
  if (conf.tls_options === undefined) return undefined;
  if (!conf.tls) throw new Error('tls_options: it is the TLS server name, so it needs tls: true');
  if (!SERVER_NAME.test(conf.tls_options) || isIP(conf.tls_options) !== 0) {
    throw new Error(`tls_options: "${conf.tls_options}" is not a server name (the name sent as SNI and checked in the certificate)`);
  }
  return conf.tls_options;
}

export default defineBatchedLogger<TcpLoggerConf, TcpSink>({
  name: 'tcp-logger',
  description: 'Pushes request and response logs as JSON to a TCP server (optionally over TLS), in batches.',
  version: 0.1,
  priority: 405,
  schema: batchedLoggerSchema({
    ...SOCKET_ADDRESS_PROPERTIES,
    tls: { type: 'boolean', default: false },
    tls_options: { type: 'string', minLength: 1 },
    timeout: { type: 'integer', minimum: 1, default: 1000 },
  }, ['host', 'port']),
  processorName: 'tcp logger',

  sink(conf) {
    const target: TcpTarget = { host: conf.host, port: conf.port, tls: conf.tls, servername: tlsServerName(conf), timeoutMs: conf.timeout };
    return { target, send: (entries) => sendOverTcp(target, jsonBatch(entries, conf.batch_max_size)) };
  },
});
