// proxy-wasm ABI constants (0.1.0 – 0.2.1; Higress 0.2.100 adds buffer 9). Numbers as the
// spec and proxy-wasm-cpp-host define them; SDKs panic on a status they do not expect, so
// these are the only values host functions return.

export const Status = {
  OK: 0,
  NOT_FOUND: 1,
  BAD_ARGUMENT: 2,
  SERIALIZATION_FAILURE: 3,
  PARSE_FAILURE: 4,
  INVALID_MEMORY_ACCESS: 6,
  EMPTY: 7,
  CAS_MISMATCH: 8,
  INTERNAL_FAILURE: 10,
  UNIMPLEMENTED: 12,
} as const;

export const MapType = {
  REQUEST_HEADERS: 0,
  REQUEST_TRAILERS: 1,
  RESPONSE_HEADERS: 2,
  RESPONSE_TRAILERS: 3,
  GRPC_INITIAL_METADATA: 4,
  GRPC_TRAILING_METADATA: 5,
  HTTP_CALL_RESPONSE_HEADERS: 6,
  HTTP_CALL_RESPONSE_TRAILERS: 7,
} as const;

export const BufferType = {
  REQUEST_BODY: 0,
  RESPONSE_BODY: 1,
  DOWNSTREAM_DATA: 2,
  UPSTREAM_DATA: 3,
  HTTP_CALL_RESPONSE_BODY: 4,
  GRPC_CALL_MESSAGE: 5,
  VM_CONFIGURATION: 6,
  PLUGIN_CONFIGURATION: 7,
  FOREIGN_FUNCTION_ARGUMENTS: 8,
  REDIS_CALL_RESPONSE: 9,
} as const;

export const StreamType = { REQUEST: 0, RESPONSE: 1, DOWNSTREAM: 2, UPSTREAM: 3 } as const;

export const MetricType = { COUNTER: 0, GAUGE: 1, HISTOGRAM: 2 } as const;

/** TRACE 0 … CRITICAL 5. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** WASI errno values the host returns. */
export const Errno = { SUCCESS: 0, BADF: 8, FAULT: 21, INVAL: 28, NOSYS: 52, NOTSUP: 58, NOTCAPABLE: 76 } as const;

export type AbiVersion = '0.1.0' | '0.2.0' | '0.2.1' | '0.2.100';

export const ABI_MARKERS: Record<string, AbiVersion> = {
  proxy_abi_version_0_1_0: '0.1.0',
  proxy_abi_version_0_2_0: '0.2.0',
  proxy_abi_version_0_2_1: '0.2.1',
  proxy_abi_version_0_2_100: '0.2.100',
};
