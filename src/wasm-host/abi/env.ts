import { Status } from './constants.js';
import { GuestMemoryError } from './guest-memory.js';
import { decodePairs, encodePairs } from './pairs.js';
import type { AbiHost, StreamHost } from './host.js';

// The `env.proxy_*` host functions of ABI 0.1.0 – 0.2.1 (+ Higress 0.2.100's extras).
// Each decodes guest pointers (signed i32: normalised in GuestMemory), calls the VM or the
// effective context, and answers a Status. Memory faults answer INVALID_MEMORY_ACCESS;
// anything else a host function throws unwinds the guest (the VM is then rebuilt).

type HostFn = (...args: never[]) => number;

const EMPTY = Buffer.alloc(0);
const NUL = '\0';

/** Runs a host function body, answering INVALID_MEMORY_ACCESS for a bad pointer. */
function guarded(fn: HostFn): HostFn {
  return ((...args: never[]) => {
    try {
      return fn(...args);
    } catch (err) {
      if (err instanceof GuestMemoryError) return Status.INVALID_MEMORY_ACCESS;
      throw err;
    }
  }) as HostFn;
}

/** Every `env.proxy_*` name a 0.2.x SDK may import, with the host's answer. */
export function envImports(host: AbiHost): Record<string, HostFn> {
  const m = host.memory;
  const stream = (): StreamHost | undefined => {
    const c = host.effective();
    return c?.kind === 'stream' ? c : undefined;
  };
  const root = () => {
    const c = host.effective();
    return c === undefined ? undefined : c.kind === 'root' ? c : c.root;
  };
  const str = (ptr: number, size: number): string => m.string(ptr, size);
  const latin1 = (ptr: number, size: number): string => Buffer.from(m.view(ptr, size)).toString('latin1');
  const path = (ptr: number, size: number): string[] => str(ptr, size).split(NUL);
  /** A serialised map in guest memory; undefined when malformed (the call answers BAD_ARGUMENT). */
  const pairsAt = (ptr: number, size: number): string[] | undefined => {
    try {
      return decodePairs(m.view(ptr, size));
    } catch (err) {
      if (err instanceof GuestMemoryError) throw err;
      return undefined;
    }
  };

  const bufferOf = (type: number): Buffer | undefined => {
    if (type === 6) return host.vmConfiguration;
    if (type === 7) return root()?.configuration;
    if (type === 4) return host.callResponse()?.body;
    if (type === 0 || type === 1) return stream()?.buffer(type);
    return undefined;
  };
  const mapOf = (type: number): string[] | undefined => {
    if (type === 6) return host.callResponse()?.headers.slice();
    if (type === 7) return host.callResponse()?.trailers.slice();
    return stream()?.headerPairs(type);
  };

  const fns: Record<string, HostFn> = {
    proxy_log: (level: number, ptr: number, size: number) => {
      if (level < 0 || level > 5) return Status.BAD_ARGUMENT;
      if (host.logEnabled(level)) host.log(level, str(ptr, size));
      return Status.OK;
    },
    proxy_get_log_level: (ret: number) => {
      m.setU32(ret, host.logLevel());
      return Status.OK;
    },
    proxy_get_current_time_nanoseconds: (ret: number) => {
      m.setU64(ret, BigInt(Date.now()) * 1_000_000n);
      return Status.OK;
    },
    proxy_set_tick_period_milliseconds: (ms: number) => {
      const r = root();
      if (r === undefined) return Status.BAD_ARGUMENT;
      r.setTickPeriod(ms >>> 0);
      return Status.OK;
    },
    proxy_set_effective_context: (id: number) => host.setEffective(id >>> 0),
    proxy_done: () => stream()?.done() ?? Status.NOT_FOUND,
    proxy_get_configuration: (retPtr: number, retSize: number) => m.give(root()?.configuration ?? EMPTY, retPtr, retSize),

    proxy_get_buffer_bytes: (type: number, start: number, max: number, retPtr: number, retSize: number) => {
      if (type < 0 || type > 9) return Status.BAD_ARGUMENT;
      const buf = bufferOf(type);
      if (buf === undefined) return Status.NOT_FOUND;
      const s = start >>> 0, n = max >>> 0;
      if (s + n > 0xffffffff) return Status.BAD_ARGUMENT;
      return m.give(s >= buf.length ? EMPTY : buf.subarray(s, Math.min(buf.length, s + n)), retPtr, retSize);
    },
    proxy_get_buffer_status: (type: number, retSize: number, retFlags: number) => {
      if (type < 0 || type > 9) return Status.BAD_ARGUMENT;
      const buf = bufferOf(type);
      if (buf === undefined) return Status.NOT_FOUND;
      m.setU32(retSize, buf.length);
      m.setU32(retFlags, 0);
      return Status.OK;
    },
    proxy_set_buffer_bytes: (type: number, start: number, size: number, ptr: number, len: number) => {
      if (type < 0 || type > 9) return Status.BAD_ARGUMENT;
      const s = stream();
      if (s === undefined || (type !== 0 && type !== 1)) return Status.NOT_FOUND;
      return s.setBuffer(type, start >>> 0, size >>> 0, m.copy(ptr, len));
    },

    proxy_get_header_map_pairs: (type: number, retPtr: number, retSize: number) => {
      if (type < 0 || type > 7) return Status.BAD_ARGUMENT;
      const flat = mapOf(type);
      if (flat === undefined) return Status.NOT_FOUND;
      return m.give(encodePairs(flat), retPtr, retSize);
    },
    proxy_set_header_map_pairs: (type: number, ptr: number, size: number) => {
      if (type < 0 || type > 7) return Status.BAD_ARGUMENT;
      const s = stream();
      if (s === undefined) return Status.NOT_FOUND;
      const flat = pairsAt(ptr, size);
      return flat === undefined ? Status.BAD_ARGUMENT : s.replaceHeaders(type, flat);
    },
    proxy_get_header_map_size: (type: number, ret: number) => {
      if (type < 0 || type > 7) return Status.BAD_ARGUMENT;
      const flat = mapOf(type);
      if (flat === undefined) return Status.NOT_FOUND;
      m.setU32(ret, encodePairs(flat).length);
      return Status.OK;
    },
    proxy_get_header_map_value: (type: number, kp: number, ks: number, retPtr: number, retSize: number) => {
      if (type < 0 || type > 7) return Status.BAD_ARGUMENT;
      const name = latin1(kp, ks).toLowerCase();
      let v: string | null | undefined;
      if (type === 6 || type === 7) {
        const flat = mapOf(type);
        if (flat === undefined) return Status.NOT_FOUND;
        v = joinedValue(flat, name);
      } else {
        const s = stream();
        if (s === undefined) return Status.NOT_FOUND;
        v = s.headerValue(type, name);
        if (v === undefined) return Status.NOT_FOUND;
      }
      if (v === null) {
        // 0.1.0 answered OK with an empty value; 0.2.x says NOT_FOUND
        if (host.abi === '0.1.0') return m.give(EMPTY, retPtr, retSize);
        return Status.NOT_FOUND;
      }
      return m.give(Buffer.from(v, 'latin1'), retPtr, retSize);
    },
    proxy_add_header_map_value: (type: number, kp: number, ks: number, vp: number, vs: number) =>
      editHeader(type, latin1(kp, ks), latin1(vp, vs), true),
    proxy_replace_header_map_value: (type: number, kp: number, ks: number, vp: number, vs: number) =>
      editHeader(type, latin1(kp, ks), latin1(vp, vs), false),
    proxy_remove_header_map_value: (type: number, kp: number, ks: number) => editHeader(type, latin1(kp, ks), undefined, false),

    proxy_continue_stream: (type: number) => {
      if (type < 0 || type > 3) return Status.BAD_ARGUMENT;
      return stream()?.continueStream(type) ?? Status.NOT_FOUND;
    },
    proxy_close_stream: (type: number) => {
      if (type < 0 || type > 3) return Status.BAD_ARGUMENT;
      return stream()?.closeStream(type) ?? Status.NOT_FOUND;
    },
    proxy_continue_request: () => stream()?.continueStream(0) ?? Status.NOT_FOUND,
    proxy_continue_response: () => stream()?.continueStream(1) ?? Status.NOT_FOUND,
    // Gatehouse matches the route once, before plugins run (see docs/wasm-plugins.md)
    proxy_clear_route_cache: () => Status.OK,
    proxy_send_local_response: (status: number, dp: number, ds: number, bp: number, bs: number, hp: number, hs: number, grpc: number) => {
      const s = stream();
      if (s === undefined) return Status.NOT_FOUND;
      const headers = pairsAt(hp, hs);
      if (headers === undefined) return Status.BAD_ARGUMENT;
      return s.sendLocalResponse(status >>> 0, str(dp, ds), m.copy(bp, bs), headers, grpc);
    },
    proxy_get_status: (retCode: number, retMsgPtr: number, retMsgSize: number) => {
      const r = host.callResponse();
      if (r === undefined) return Status.NOT_FOUND;
      m.setU32(retCode, r.status);
      return m.give(EMPTY, retMsgPtr, retMsgSize);
    },

    proxy_http_call: (up: number, us: number, hp: number, hs: number, bp: number, bs: number, _tp: number, _ts: number,
      timeout: number, retToken: number) => {
      const headers = pairsAt(hp, hs);
      if (headers === undefined) return Status.BAD_ARGUMENT;
      for (let i = 0; i < headers.length; i += 2) headers[i] = headers[i]!.toLowerCase();
      const token = host.httpCall({ cluster: str(up, us), headers, body: m.copy(bp, bs), timeoutMs: timeout >>> 0 });
      if (token < 0) return -token;
      m.setU32(retToken, token);
      return Status.OK;
    },

    proxy_get_shared_data: (kp: number, ks: number, retPtr: number, retSize: number, retCas: number) => {
      const e = host.sharedGet(str(kp, ks));
      if (e === undefined) return Status.NOT_FOUND;
      const st = m.give(e.value, retPtr, retSize);
      if (st === Status.OK) m.setU32(retCas, e.cas);
      return st;
    },
    proxy_set_shared_data: (kp: number, ks: number, vp: number, vs: number, cas: number) =>
      host.sharedSet(str(kp, ks), m.copy(vp, vs), cas >>> 0),
    proxy_register_shared_queue: (np: number, ns: number, retId: number) => {
      m.setU32(retId, host.queueRegister(str(np, ns)));
      return Status.OK;
    },
    proxy_resolve_shared_queue: (vp: number, vs: number, np: number, ns: number, retId: number) => {
      const id = host.queueResolve(str(vp, vs), str(np, ns));
      if (id === undefined) return Status.NOT_FOUND;
      m.setU32(retId, id);
      return Status.OK;
    },
    proxy_enqueue_shared_queue: (id: number, vp: number, vs: number) => host.queueEnqueue(id >>> 0, m.copy(vp, vs)),
    proxy_dequeue_shared_queue: (id: number, retPtr: number, retSize: number) => {
      const r = host.queueDequeue(id >>> 0);
      return typeof r === 'number' ? r : m.give(r, retPtr, retSize);
    },

    proxy_define_metric: (type: number, np: number, ns: number, retId: number) => {
      if (type < 0 || type > 2) return Status.BAD_ARGUMENT;
      const id = host.defineMetric(type, str(np, ns));
      if (id === undefined) return Status.BAD_ARGUMENT;
      m.setU32(retId, id);
      return Status.OK;
    },
    proxy_increment_metric: ((id: number, delta: bigint) => host.incrementMetric(id >>> 0, delta)) as HostFn,
    proxy_record_metric: ((id: number, value: bigint) => host.recordMetric(id >>> 0, BigInt.asUintN(64, value))) as HostFn,
    proxy_get_metric: (id: number, ret: number) => {
      const v = host.getMetric(id >>> 0);
      if (v === undefined) return Status.NOT_FOUND;
      m.setU64(ret, v);
      return Status.OK;
    },

    proxy_get_property: (pp: number, ps: number, retPtr: number, retSize: number) => {
      const c = host.effective();
      const v = c?.property(path(pp, ps));
      if (v === undefined) return Status.NOT_FOUND;
      return m.give(v, retPtr, retSize);
    },
    proxy_set_property: (pp: number, ps: number, vp: number, vs: number) => {
      const c = host.effective();
      if (c === undefined) return Status.NOT_FOUND;
      return c.setProperty(path(pp, ps), m.copy(vp, vs));
    },
    proxy_call_foreign_function: (np: number, ns: number, _ap: number, _as: number, retPtr: number, retSize: number) => {
      const name = str(np, ns);
      // Higress's wasm-go asks the host's log level this way
      if (name === 'get_log_level') {
        const b = Buffer.alloc(4);
        b.writeUInt32LE(host.logLevel());
        return m.give(b, retPtr, retSize);
      }
      return Status.NOT_FOUND;
    },
  };

  function editHeader(type: number, name: string, value: string | undefined, add: boolean): number {
    if (type < 0 || type > 7) return Status.BAD_ARGUMENT;
    const s = stream();
    if (s === undefined) return Status.NOT_FOUND;
    return s.editHeader(type, name.toLowerCase(), value, add);
  }

  const out: Record<string, HostFn> = {};
  for (const [name, fn] of Object.entries(fns)) out[name] = guarded(fn);
  for (const name of UNIMPLEMENTED) out[name] = () => Status.UNIMPLEMENTED;
  return out;
}

/** Imported by SDKs' blanket tables (gRPC, Higress's Redis and upstream overrides): linked, answering UNIMPLEMENTED. */
export const UNIMPLEMENTED = [
  'proxy_grpc_call', 'proxy_grpc_stream', 'proxy_grpc_send', 'proxy_grpc_cancel', 'proxy_grpc_close',
  'proxy_redis_init', 'proxy_redis_call', 'proxy_get_upstream_hosts', 'proxy_set_upstream_override_host',
  'proxy_inject_encoded_data_to_filter_chain',
] as const;

function joinedValue(flat: readonly string[], name: string): string | null {
  let v: string | null = null;
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] === name) v = v === null ? flat[i + 1]! : `${v},${flat[i + 1]!}`;
  }
  return v;
}
