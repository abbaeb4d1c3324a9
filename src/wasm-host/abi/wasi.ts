import { randomFillSync } from 'node:crypto';
import { Errno } from './constants.js';
import type { GuestMemory } from './guest-memory.js';

/** `proc_exit` unwinds the guest: during start-up with code 0 it ends start-up normally. */
export class ProcExit extends Error {
  constructor(readonly code: number) {
    super(`the plugin called proc_exit(${code})`);
  }
}

export interface WasiHost {
  readonly memory: GuestMemory;
  /** The plugin's own environment (`KEY=VALUE`), never the gateway's. */
  readonly environ: readonly string[];
  /** One complete line written to fd 1 (stdout) or 2 (stderr). */
  writeLine(fd: 1 | 2, line: string): void;
}

const MAX_RANDOM = 64 * 1024;

/**
 * WASI preview1 as a plugin sees it: stdout and stderr go to the gateway's log a line at
 * a time (TinyGo writes a byte per call), clocks and randomness work, and nothing
 * reaches the host's files, environment, arguments or sockets: every fd other than 1 and
 * 2 is EBADF, every path call ENOTCAPABLE. The same object is imported under
 * `wasi_snapshot_preview1` and `wasi_unstable`.
 */
export function wasiImports(host: WasiHost): Record<string, (...args: never[]) => unknown> {
  const m = host.memory;
  const pending: [string, string] = ['', ''];
  const write = (fd: 1 | 2, text: string): void => {
    let buf = pending[fd - 1]! + text;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      host.writeLine(fd, buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    // a runaway writer without newlines is flushed in pieces, not kept without bound
    if (buf.length > 4096) {
      host.writeLine(fd, buf);
      buf = '';
    }
    pending[fd - 1] = buf;
  };
  const environBytes = host.environ.map((e) => Buffer.from(e + '\0'));
  const badf = (): number => Errno.BADF;
  const notCapable = (): number => Errno.NOTCAPABLE;
  return {
    fd_write: (fd: number, iovs: number, iovsLen: number, retWritten: number): number => {
      if (fd !== 1 && fd !== 2) return Errno.BADF;
      let total = 0;
      let text = '';
      for (let i = 0; i < iovsLen >>> 0; i++) {
        const ptr = m.u32(iovs + i * 8), len = m.u32(iovs + i * 8 + 4);
        text += m.string(ptr, len);
        total += len;
      }
      write(fd, text);
      m.setU32(retWritten, total);
      return Errno.SUCCESS;
    },
    fd_fdstat_get: (fd: number, retStat: number): number => {
      if (fd !== 1 && fd !== 2) return Errno.BADF;
      const v = m.view(retStat, 24);
      v.fill(0);
      v[0] = 2; // filetype: character device
      new DataView(v.buffer, v.byteOffset, 24).setBigUint64(8, 64n, true); // rights_base: FD_WRITE
      return Errno.SUCCESS;
    },
    fd_read: badf, fd_pread: badf, fd_pwrite: badf, fd_seek: badf, fd_tell: badf, fd_close: badf, fd_sync: badf,
    fd_datasync: badf, fd_advise: badf, fd_allocate: badf, fd_filestat_get: badf, fd_filestat_set_size: badf,
    fd_filestat_set_times: badf, fd_fdstat_set_flags: badf, fd_fdstat_set_rights: badf, fd_prestat_get: badf,
    fd_prestat_dir_name: badf, fd_readdir: badf, fd_renumber: badf,
    path_open: notCapable, path_create_directory: notCapable, path_filestat_get: notCapable,
    path_filestat_set_times: notCapable, path_link: notCapable, path_readlink: notCapable,
    path_remove_directory: notCapable, path_rename: notCapable, path_symlink: notCapable, path_unlink_file: notCapable,
    sock_accept: notCapable, sock_recv: notCapable, sock_send: notCapable, sock_shutdown: notCapable,
    clock_time_get: (id: number, _precision: bigint, ret: number): number => {
      if (id === 0) m.setU64(ret, BigInt(Date.now()) * 1_000_000n);
      else if (id === 1) m.setU64(ret, process.hrtime.bigint());
      else return Errno.NOTSUP;
      return Errno.SUCCESS;
    },
    clock_res_get: (id: number, ret: number): number => {
      if (id !== 0 && id !== 1) return Errno.NOTSUP;
      m.setU64(ret, 1n);
      return Errno.SUCCESS;
    },
    random_get: (ptr: number, len: number): number => {
      if (len >>> 0 > MAX_RANDOM) return Errno.INVAL;
      randomFillSync(m.view(ptr, len));
      return Errno.SUCCESS;
    },
    environ_sizes_get: (retCount: number, retSize: number): number => {
      m.setU32(retCount, environBytes.length);
      m.setU32(retSize, environBytes.reduce((a, b) => a + b.length, 0));
      return Errno.SUCCESS;
    },
    environ_get: (ptrs: number, buf: number): number => {
      let at = buf >>> 0;
      environBytes.forEach((b, i) => {
        m.setU32(ptrs + i * 4, at);
        m.view(at, b.length).set(b);
        at += b.length;
      });
      return Errno.SUCCESS;
    },
    args_sizes_get: (retCount: number, retSize: number): number => {
      m.setU32(retCount, 0);
      m.setU32(retSize, 0);
      return Errno.SUCCESS;
    },
    args_get: (): number => Errno.SUCCESS,
    proc_exit: (code: number): never => {
      throw new ProcExit(code >>> 0);
    },
    proc_raise: (): number => Errno.NOSYS,
    sched_yield: (): number => Errno.SUCCESS,
    // Go's wasip1 runtime needs SUCCESS here (proxy-wasm-cpp-host#497); no event ever fires.
    poll_oneoff: (_in: number, _out: number, _n: number, retEvents: number): number => {
      m.setU32(retEvents, 0);
      return Errno.SUCCESS;
    },
  };
}
