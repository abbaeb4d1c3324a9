import type { CounterService } from '../../src/counters/counter-service.js';
import type { CounterChannel } from '../../src/counters/ipc-store.js';
import type { CounterOpsMessage } from '../../src/counters/wire.js';

/**
 * A worker's channel to an in-process CounterService: messages cross asynchronously
 * (setImmediate each way), as over the cluster IPC channel. `svc` undefined: a primary
 * that never answers.
 */
export function channelTo(svc: CounterService | undefined, owner: number): CounterChannel & {
  messages: CounterOpsMessage[]; connected: boolean; disconnect(): void;
} {
  let listener: ((m: unknown) => void) | undefined;
  let onGone: (() => void) | undefined;
  const ch = {
    connected: true,
    messages: [] as CounterOpsMessage[],
    send(msg: CounterOpsMessage) {
      ch.messages.push(msg);
      if (svc === undefined) return;
      setImmediate(() => {
        const results = svc.handle(owner, msg.ops);
        if (results.length > 0) setImmediate(() => listener?.({ type: 'counter-results', results }));
      });
    },
    onMessage(l: (m: unknown) => void) { listener = l; },
    onDisconnect(l: () => void) { onGone = l; },
    disconnect() { ch.connected = false; onGone?.(); },
  };
  return ch;
}
