import type { PluginContext } from '../contracts/plugin.js';
import { logger } from '../core/logger.js';
import { LOGGER_COMMON_PROPERTIES, type RequestBodyCapture, type LoggerCommonConf } from './common/log-util.js';
import { BATCH_PROCESSOR_PROPERTIES, type BatchConf } from './common/batch-processor.js';
import {
  DESTROY_DRAIN_MS, countDropped, defaultEntry, defineBatchedLogger, jsonBatch, pluginLog, type BatchedLoggerPrepared, type LogRecord, type LogSink,
} from './common/batched-logger.js';
import { KafkaProducerPool, type KafkaProducerSettings, type KafkaSaslMechanism } from './common/kafka-producer.js';

// APISIX's kafka-logger: the request's log entry goes into a batch processor, and each
// batch becomes one Kafka message on `kafka_topic` (a JSON array; the entry itself when
// batch_max_size is 1), keyed by `key`. The producer (kafkajs, common/kafka-producer.ts)
// is shared by every instance of this worker naming the same brokers and settings;
// `producer_type: async` buffers messages in it as lua-resty-kafka does. A dead broker
// never fails or slows a request: entries past the bounds are dropped and counted in
// `gatehouse_logger_dropped_total{plugin="kafka-logger"}`, with one warning per interval.
//
// `meta_format: origin` logs the raw request (request line, headers, and with
// include_req_body its body) as text instead of the JSON entry.

interface SaslConfig { mechanism: KafkaSaslMechanism; user: string; password: string }

export interface KafkaLoggerConf extends LoggerCommonConf, BatchConf {
  meta_format: 'default' | 'origin';
  broker_list?: Record<string, number>;
  brokers?: { host: string; port: number; sasl_config?: SaslConfig }[];
  tls?: { verify: boolean };
  kafka_topic: string;
  producer_type: 'async' | 'sync';
  required_acks: 1 | -1;
  key?: string;
  timeout: number;
  cluster_name: number;
  producer_batch_num: number;
  producer_batch_size: number;
  producer_max_buffering: number;
  producer_time_linger: number;
  meta_refresh_interval: number;
  api_version: 0 | 1 | 2;
}

/** One log entry: APISIX's JSON entry (or log_format), or with meta_format origin the raw request. */
export type KafkaLogEntry = LogRecord | string;

type KafkaLoggerPrepared = BatchedLoggerPrepared<KafkaLoggerConf, LogSink<KafkaLogEntry>, KafkaLogEntry>;

const BROKER_PORT = { type: 'integer', minimum: 1, maximum: 65535 } as const;

const log = {
  ...pluginLog('kafka-logger'),
  debug: (obj: object, msg: string): void => logger().debug({ plugin: 'kafka-logger', ...obj }, msg),
};

/** The producers of this plugin's code in this worker (a plugin reload gets its own, and closes these). */
const pool = new KafkaProducerPool({ log, onDrop: (n) => countDropped('kafka-logger', n, 'send_failed') });

/** The value of the Kafka message carrying one batch, as APISIX builds it (a lone origin entry goes as its text). */
export function kafkaMessageValue(entries: readonly KafkaLogEntry[], batchMaxSize: number): string {
  const only = entries[0];
  return batchMaxSize === 1 && typeof only === 'string' ? only : jsonBatch(entries, batchMaxSize);
}

/** `meta_format: origin`: the request as it came, request line and headers, then the body when include_req_body kept it. */
export function originalRequest(ctx: PluginContext, reqCapture: RequestBodyCapture | undefined): string {
  let text = `${String(ctx.var('request') ?? '')}\r\n`;
  for (const [name, value] of Object.entries(ctx.request.allHeaders?.() ?? {})) text += `${name}: ${value}\r\n`;
  text += '\r\n';
  return text + (reqCapture?.body(ctx) ?? '');
}

/**
 * The producer settings of a config, refusing (naming the field) what kafkajs cannot do
 * as asked: per-broker logins that differ, IPv6 literals, the message-set Produce
 * versions.
 */
export function producerSettings(conf: KafkaLoggerConf): KafkaProducerSettings {
  if (conf.brokers !== undefined && conf.broker_list !== undefined) {
    throw new Error('brokers and broker_list are exclusive: broker_list is the deprecated form of brokers');
  }
  const brokers = conf.brokers ?? Object.entries(conf.broker_list ?? {}).map(([host, port]) => ({ host, port, sasl_config: undefined }));
  if (brokers.length === 0) throw new Error('brokers: at least one broker is required (or the deprecated broker_list)');
  const field = conf.brokers !== undefined ? 'brokers' : 'broker_list';
  brokers.forEach((b, i) => {
    if (b.host.includes(':')) throw new Error(`${field}[${i}].host: "${b.host}": IPv6 literals are not supported (kafkajs reads "host:port"), use a host name`);
  });
  const sasl = brokers[0]!.sasl_config;
  brokers.forEach((b, i) => {
    const s = b.sasl_config;
    if (s?.mechanism !== sasl?.mechanism || s?.user !== sasl?.user || s?.password !== sasl?.password) {
      throw new Error(`brokers[${i}].sasl_config: every broker needs the same sasl_config (kafkajs signs in to all of a cluster's brokers with one login)`);
    }
  });
  if (conf.api_version !== 2) {
    throw new Error(`api_version: ${conf.api_version} is not supported: kafkajs negotiates the Produce version with the broker, `
      + 'and its messages always carry timestamps (what api_version 2 asks for); set 2 or leave it out');
  }
  return {
    brokers: brokers.map((b) => `${b.host}:${b.port}`),
    sasl: sasl === undefined ? undefined : { mechanism: sasl.mechanism, user: sasl.user, password: sasl.password },
    tls: conf.tls === undefined ? undefined : { verify: conf.tls.verify },
    timeoutMs: conf.timeout * 1000,
    requiredAcks: conf.required_acks,
    producerType: conf.producer_type,
    clusterName: conf.cluster_name,
    batchNum: conf.producer_batch_num,
    batchSize: conf.producer_batch_size,
    maxBuffering: conf.producer_max_buffering,
    lingerMs: conf.producer_time_linger * 1000,
    metadataMaxAgeMs: conf.meta_refresh_interval * 1000,
  };
}

export default defineBatchedLogger<KafkaLoggerConf, LogSink<KafkaLogEntry>, KafkaLogEntry>({
  name: 'kafka-logger',
  description: 'Pushes a log entry for every request to an Apache Kafka topic, in batches.',
  version: 0.1,
  stage: 'statistics',
  priority: 403,
  schema: {
    type: 'object',
    properties: {
      meta_format: { type: 'string', enum: ['default', 'origin'], default: 'default' },
      broker_list: { type: 'object', minProperties: 1, patternProperties: { '.*': BROKER_PORT } },
      brokers: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        items: {
          type: 'object',
          properties: {
            host: { type: 'string', minLength: 1 },
            port: BROKER_PORT,
            sasl_config: {
              type: 'object',
              properties: {
                mechanism: { type: 'string', enum: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'], default: 'PLAIN' },
                user: { type: 'string' },
                password: { type: 'string', encrypted: true },
              },
              required: ['user', 'password'],
              additionalProperties: false,
            },
          },
          required: ['host', 'port'],
          additionalProperties: false,
        },
      },
      tls: { type: 'object', properties: { verify: { type: 'boolean', default: false } }, additionalProperties: false },
      kafka_topic: { type: 'string', minLength: 1 },
      producer_type: { type: 'string', enum: ['async', 'sync'], default: 'async' },
      required_acks: { type: 'integer', enum: [1, -1], default: 1 },
      key: { type: 'string' },
      timeout: { type: 'integer', minimum: 1, default: 3 },
      ...LOGGER_COMMON_PROPERTIES,
      cluster_name: { type: 'integer', minimum: 1, default: 1 },
      producer_batch_num: { type: 'integer', minimum: 1, default: 200 },
      producer_batch_size: { type: 'integer', minimum: 0, default: 1048576 },
      producer_max_buffering: { type: 'integer', minimum: 1, default: 50000 },
      producer_time_linger: { type: 'integer', minimum: 1, default: 1 },
      meta_refresh_interval: { type: 'integer', minimum: 1, default: 30 },
      api_version: { type: 'integer', enum: [0, 1, 2], default: 2 },
      ...BATCH_PROCESSOR_PROPERTIES,
    },
    required: ['kafka_topic'],
    // an unknown field (or one of APISIX's this plugin does not build) is refused by name, not ignored
    additionalProperties: false,
  },
  processorName: 'kafka logger',

  sink(conf) {
    const settings = producerSettings(conf);
    const batchMaxSize = conf.batch_max_size ?? 1000;
    return {
      // the pool, not the instance, holds the producer: it may be closed when idle and made again
      send: async (entries) => pool.get(settings).send({
        topic: conf.kafka_topic, key: conf.key, value: kafkaMessageValue(entries, batchMaxSize), entries: entries.length,
      }),
    };
  },

  logsRawRequest: (conf) => conf.meta_format === 'origin',

  entry(p: KafkaLoggerPrepared, ctx) {
    return p.conf.meta_format === 'origin' ? originalRequest(ctx, p.reqCapture) : defaultEntry(p, ctx);
  },

  close: () => pool.closeAll(DESTROY_DRAIN_MS),
});
