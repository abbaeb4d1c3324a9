// Higress's `redis` object (cluster-key-rate-limit, ai-quota): its fields, and the Redis
// target it names here. Higress names an Envoy service in `service_name`; here it is the
// server's host name or IP address, and a Higress service name is refused.
import type { RedisNodeTarget } from '../../counters/index.js';

export interface HigressRedisConf {
  service_name: string;
  service_port?: number;
  username?: string;
  password?: string;
  timeout?: number;
  database?: number;
}

export const HIGRESS_REDIS_SCHEMA = {
  type: 'object', additionalProperties: false,
  properties: {
    service_name: { type: 'string', minLength: 1, description: 'the Redis server\'s host name or IP address' },
    service_port: { type: 'integer', minimum: 1, maximum: 65535, default: 6379 },
    username: { type: 'string', minLength: 1 },
    password: { type: 'string', encrypted: true, description: 'a secret, never logged' },
    timeout: { type: 'integer', minimum: 1, default: 1000, description: 'ms a Redis operation may take' },
    database: { type: 'integer', minimum: 0, default: 0 },
  },
  required: ['service_name'],
} as const;

/**
 * The Redis server `redis` names; throws naming the field (`field`: how the plugin spells
 * it, `redis.serviceName` in ai-history) for a Higress service name.
 */
export function higressRedisTarget(redis: HigressRedisConf, field = 'redis.service_name'): RedisNodeTarget {
  if (/\.(static|dns)$/.test(redis.service_name)) {
    throw new Error(`${field}: "${redis.service_name}" is a Higress service name; give the Redis server's host name or IP address`);
  }
  return {
    policy: 'redis', host: redis.service_name, port: redis.service_port ?? 6379, database: redis.database ?? 0,
    ...(redis.username !== undefined ? { username: redis.username } : {}),
    ...(redis.password !== undefined && redis.password !== '' ? { password: redis.password } : {}),
    tls: false, tlsVerify: false, timeoutMs: redis.timeout ?? 1000,
  };
}
