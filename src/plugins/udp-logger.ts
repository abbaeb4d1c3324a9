import type { LoggerCommonConf } from './common/log-util.js';
import type { BatchConf } from './common/batch-processor.js';
import { batchedLoggerSchema, defineBatchedLogger, reportDropped, type BatchedLoggerPrepared, type LogSink } from './common/batched-logger.js';
import { SOCKET_ADDRESS_PROPERTIES, MAX_UDP_PAYLOAD, packJsonDatagrams, sendDatagrams, type UdpTarget } from './common/log-sockets.js';

// APISIX's udp-logger: each batch is one datagram holding the entry itself when
// batch_max_size is 1, else a JSON array of entries. A datagram carries at most 65,507
// bytes, which APISIX's default batch of 1000 entries easily passes (its send then
// fails); here a batch too large for one datagram goes as several, each a JSON array of
// as many entries as fit, so a receiver that parses each datagram as APISIX's still
// reads every entry. An entry too large for a datagram on its own is dropped and counted
// (`too_large`). UDP says nothing about delivery: a server that is not listening is not
// noticed (as in APISIX); `timeout` (seconds) bounds resolving the host and sending.

export interface UdpLoggerConf extends LoggerCommonConf, BatchConf {
  host: string;
  port: number;
  timeout: number;
}

export interface UdpSink extends LogSink {
  readonly target: UdpTarget;
}

export type UdpLoggerPrepared = BatchedLoggerPrepared<UdpLoggerConf, UdpSink>;

export default defineBatchedLogger<UdpLoggerConf, UdpSink>({
  name: 'udp-logger',
  description: 'Pushes request and response logs as JSON datagrams to a UDP server, in batches.',
  version: 0.1,
  priority: 400,
  schema: batchedLoggerSchema({
    ...SOCKET_ADDRESS_PROPERTIES,
    timeout: { type: 'integer', minimum: 1, default: 3 },
  }, ['host', 'port']),
  processorName: 'udp logger',

  sink(conf) {
    const target: UdpTarget = { host: conf.host, port: conf.port, timeoutMs: conf.timeout * 1000 };
    return {
      target,
      send: (entries) => {
        const { datagrams, tooLarge } = packJsonDatagrams(entries, conf.batch_max_size === 1);
        reportDropped('udp-logger', tooLarge, 'too_large', `an entry is over the ${MAX_UDP_PAYLOAD} bytes a UDP datagram carries`);
        return sendDatagrams(target, datagrams);
      },
    };
  },
});
