import { Status } from './abi/constants.js';
import type { RootHost } from './abi/host.js';
import type { VmHandle } from './vm-handle.js';

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/**
 * A root context: one plugin configuration inside a VM. Started with
 * context_create(id, 0), vm_start and configure; owns the tick timer and receives
 * http_call responses and queue notifications. `configured` is false when the module's
 * on_configure refused the configuration (requests with it then fail per fail strategy).
 */
export class RootContext implements RootHost {
  readonly kind = 'root' as const;
  configured = false;
  closed = false;
  private tick: NodeJS.Timeout | undefined;
  private readonly props = new Map<string, Buffer>();

  constructor(readonly vm: VmHandle, readonly id: number, readonly configuration: Buffer) {}

  start(): void {
    const vm = this.vm;
    vm.invoke('proxy_on_context_create', vm.cb.contextCreate, this, this.id, 0);
    if (vm.cb.vmStart !== undefined && vm.invoke('proxy_on_vm_start', vm.cb.vmStart, this, this.id, vm.vmConfiguration.length) === 0) {
      throw new Error('proxy_on_vm_start returned false');
    }
    this.configured = vm.cb.configure === undefined
      || vm.invoke('proxy_on_configure', vm.cb.configure, this, this.id, this.configuration.length) !== 0;
  }

  setTickPeriod(ms: number): void {
    if (this.tick !== undefined) clearInterval(this.tick);
    this.tick = undefined;
    if (ms === 0 || this.closed || this.vm.cb.tick === undefined) return;
    this.tick = setInterval(() => this.onTick(), Math.max(1, ms));
    this.tick.unref();
  }

  private onTick(): void {
    const cb = this.vm.cb.tick;
    if (this.closed || this.vm.broken !== undefined || cb === undefined) {
      this.setTickPeriod(0);
      return;
    }
    try {
      this.vm.invoke('proxy_on_tick', cb, this, this.id);
    } catch {
      // logged by the VM, which is now broken; the timer stops on its next turn
    }
  }

  queueReady(queueId: number): void {
    const cb = this.vm.cb.queueReady;
    if (this.closed || this.vm.broken !== undefined || cb === undefined) return;
    try {
      this.vm.invoke('proxy_on_queue_ready', cb, this, this.id, queueId);
    } catch {
      // logged by the VM
    }
  }

  property(path: readonly string[]): Uint8Array | undefined {
    return rootProperty(this.vm, path) ?? this.props.get(path.join('.'));
  }

  setProperty(path: readonly string[], value: Buffer): number {
    this.props.set(path.join('.'), value);
    if (path.length === 1 && path[0] === 'wasm_need_rebuild' && value.toString() === 'true') this.vm.retire('the plugin asked for it (wasm_need_rebuild)');
    return Status.OK;
  }

  /** Stops the timer; with `tellGuest`, the root's on_done and on_delete run first. */
  close(tellGuest = true): void {
    if (this.closed) return;
    this.setTickPeriod(0);
    if (tellGuest && this.vm.broken === undefined) {
      try {
        if (this.vm.cb.done !== undefined) this.vm.invoke('proxy_on_done', this.vm.cb.done, this, this.id);
        if (this.vm.cb.delete !== undefined) this.vm.invoke('proxy_on_delete', this.vm.cb.delete, this, this.id);
      } catch {
        // logged by the VM
      }
    }
    this.closed = true;
    this.vm.unregister(this);
  }
}

/** Properties every context answers: which plugin and VM this is. */
export function rootProperty(vm: VmHandle, path: readonly string[]): Uint8Array | undefined {
  if (path.length !== 1) return undefined;
  switch (path[0]) {
    case 'plugin_root_id': return utf8(vm.opts.rootId);
    case 'plugin_name': return utf8(vm.opts.pluginName);
    case 'plugin_vm_id': return utf8(vm.opts.vmId);
    case 'plugin_vm_memory': {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(vm.memory.byteLength));
      return b;
    }
    default: return undefined;
  }
}
