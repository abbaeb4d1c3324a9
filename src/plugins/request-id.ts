import { randomBytes, randomUUID } from 'node:crypto';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import { HEADER_NAME_SCHEMA } from './common/headers.js';

// Tags every request with an id (apisix/plugins/request-id.lua): an id the client sent
// in `header_name` is kept, otherwise one is generated (uuid v4, uuidv7, nanoid,
// range_id or ksuid) and sent upstream; header_filter returns it to the client unless the upstream
// already answered with one. The id is also the `request_id` variable, for loggers.

export interface RequestIdConf {
  header_name: string;
  include_in_response: boolean;
  algorithm: 'uuid' | 'uuidv7' | 'nanoid' | 'range_id' | 'ksuid';
  range_id: { length: number; char_set: string };
}

export interface RequestIdPrepared {
  /** The header name as configured (header lookups are case-insensitive). */
  header: string;
  includeInResponse: boolean;
  generate: () => string;
  /** Key of the id in `ctx.shared` (APISIX `ctx["request-id-" .. header_name]`). */
  sharedKey: string;
}

// APISIX's default (sic: "IGK", its alphabet has no J and two Gs); kept so ids look alike.
const DEFAULT_CHAR_SET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIGKLMNOPQRSTUVWXYZ0123456789';

// nanoid's URL-safe alphabet; 64 symbols, so one random byte masked with 63 picks one
// without bias.
const NANOID_ALPHABET = 'useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict';
const NANOID_SIZE = 21;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function randomPool(n: number): Buffer {
  if (poolOffset + n > pool.length) {
    pool = randomBytes(Math.max(n, NANOID_SIZE * 128));
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

export function nanoid(): string {
  const bytes = randomPool(NANOID_SIZE);
  let id = '';
  for (let i = 0; i < NANOID_SIZE; i++) id += NANOID_ALPHABET[bytes[i]! & 63];
  return id;
}

export function rangeId(length: number, charSet: string): string {
  let id = '';
  for (let i = 0; i < length; i++) id += charSet[Math.floor(Math.random() * charSet.length)];
  return id;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KSUID_EPOCH = 1_400_000_000;

/** A KSUID: 4 bytes of seconds since 2014-05-13 and 16 random bytes, base62, 27 characters. */
export function ksuid(nowMs = Date.now()): string {
  const bytes = Buffer.alloc(20);
  bytes.writeUInt32BE((Math.floor(nowMs / 1000) - KSUID_EPOCH) >>> 0, 0);
  randomBytes(16).copy(bytes, 4);
  let n = BigInt('0x' + bytes.toString('hex'));
  let out = '';
  while (n > 0n) {
    out = BASE62[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out.padStart(27, '0');
}

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids
 * sort by creation time (what APISIX's `uuidv7` algorithm gives).
 */
export function uuidV7(nowMs = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(nowMs, 0, 6);
  bytes[6] = 0x70 | (bytes[6]! & 0x0f);
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export default definePlugin<RequestIdConf, RequestIdPrepared>({
  name: 'request-id',
  description: 'Adds a unique ID to every request and its response, to trace it.',
  version: 0.1,
  stage: 'authorization',
  priority: 975,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header_name: { ...HEADER_NAME_SCHEMA, default: 'X-Request-Id' },
      include_in_response: { type: 'boolean', default: true },
      algorithm: { type: 'string', enum: ['uuid', 'uuidv7', 'nanoid', 'range_id', 'ksuid'], default: 'uuid' },
      range_id: {
        type: 'object',
        additionalProperties: false,
        properties: {
          length: { type: 'integer', minimum: 6, default: 16 },
          // at least 6 characters, so ids do not repeat too soon
          char_set: { type: 'string', minLength: 6, default: DEFAULT_CHAR_SET },
        },
        default: { length: 16, char_set: DEFAULT_CHAR_SET },
      },
    },
  },

  prepare(conf) {
    const headerName = conf.header_name ?? 'X-Request-Id';
    if (headerName === '' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(headerName)) {
      throw new Error(`invalid header_name "${headerName}": not a valid HTTP header name`);
    }
    // range_id always holds its default (the schema fills it in); other values only make
    // sense with the range_id algorithm.
    if ((conf.algorithm ?? 'uuid') !== 'range_id' && conf.range_id !== undefined
      && (conf.range_id.length !== 16 || conf.range_id.char_set !== DEFAULT_CHAR_SET)) {
      throw new Error('range_id only applies to algorithm range_id');
    }
    let generate: () => string;
    switch (conf.algorithm ?? 'uuid') {
      case 'nanoid':
        generate = nanoid;
        break;
      case 'range_id': {
        const length = conf.range_id?.length ?? 16;
        const charSet = conf.range_id?.char_set ?? DEFAULT_CHAR_SET;
        generate = () => rangeId(length, charSet);
        break;
      }
      case 'ksuid':
        generate = () => ksuid();
        break;
      case 'uuidv7':
        generate = () => uuidV7();
        break;
      default:
        generate = randomUUID;
    }
    return {
      header: headerName,
      includeInResponse: conf.include_in_response !== false,
      generate,
      sharedKey: `request-id-${headerName.toLowerCase()}`,
    };
  },

  rewrite(p, ctx) {
    let id = ctx.request.header(p.header);
    if (id === undefined || id === '') {
      id = p.generate();
      ctx.request.setHeader(p.header, id);
    }
    ctx.setVar('request_id', id);
    if (p.includeInResponse) ctx.shared.set(p.sharedKey, id);
  },

  header_filter(p, ctx) {
    if (!p.includeInResponse) return;
    const id = ctx.shared.get(p.sharedKey) as string | undefined;
    if (id === undefined) return;
    const current = ctx.response.header(p.header);
    if (current === undefined || current === '') ctx.response.setHeader(p.header, id);
  },
});
