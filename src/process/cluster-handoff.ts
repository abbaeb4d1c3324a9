// node:cluster round-robin: the primary accepts every data-plane connection and passes
// the socket to a worker over IPC (`newconn`), then waits for that worker's answer
// before it offers the worker another one. Two ways of losing that answer wedge the
// listener, and node handles neither:
//  - the worker dies with a connection on its way: the client waits forever, as the
//    primary keeps that socket open and never offers it to anyone else;
//  - the worker is out of descriptors: the kernel drops the socket from the IPC
//    message, node's IPC layer throws the message away, and the primary waits for an
//    answer that never comes, so the worker gets no connection again, even once its
//    descriptors are free.
// Both are repaired here by sending the answer node's cluster code waits for
// (`{cmd: 'NODE_CLUSTER', ack: seq, accepted: false}`: "not taken, give it to someone
// else"), the message format of node's lib/internal/cluster (stable since node 12).
import type { Worker } from 'node:cluster';
import { closeSync, openSync } from 'node:fs';

interface ClusterMessage { cmd?: unknown; act?: unknown; seq?: unknown; ack?: unknown; msg?: unknown }

const isNewConnection = (m: unknown): m is ClusterMessage & { seq: number } => {
  const c = m as ClusterMessage | null;
  return typeof c === 'object' && c !== null && c.cmd === 'NODE_CLUSTER' && c.act === 'newconn' && typeof c.seq === 'number';
};

const notTaken = (seq: number): ClusterMessage & { accepted: false } => ({ cmd: 'NODE_CLUSTER', ack: seq, accepted: false });

/**
 * Primary side, one per worker: remembers each connection handed to the worker until it
 * answers; `release` (once the worker is gone) gives the unanswered ones back to the
 * round-robin, or closes them when no worker is left to take them.
 */
export class HandoffTracker {
  private readonly unanswered = new Map<number, { close(): void }>();

  constructor(private readonly worker: Worker) {
    const proc = worker.process;
    const send = proc.send.bind(proc) as (...args: unknown[]) => boolean;
    proc.send = ((message: unknown, handle?: unknown, ...rest: unknown[]): boolean => {
      if (isNewConnection(message) && typeof (handle as { close?: unknown } | undefined)?.close === 'function') {
        this.unanswered.set(message.seq, handle as { close(): void });
      }
      return send(message, handle, ...rest);
    }) as typeof proc.send;
    (proc as NodeJS.EventEmitter).on('internalMessage', (m: ClusterMessage) => {
      if (m?.cmd === 'NODE_CLUSTER' && typeof m.ack === 'number') this.unanswered.delete(m.ack);
    });
  }

  get pending(): number {
    return this.unanswered.size;
  }

  /**
   * Call once node's cluster code has dropped the worker from the round-robin (its
   * `disconnect` event): an answer now makes the primary offer the connection to the
   * other workers. With none left, the listening socket is already closed and nobody
   * would take it: it is closed, so the client fails fast instead of hanging.
   */
  release(othersListening: boolean): number {
    const n = this.unanswered.size;
    for (const [seq, handle] of this.unanswered) {
      this.unanswered.delete(seq);
      if (othersListening) (this.worker.process as NodeJS.EventEmitter).emit('internalMessage', notTaken(seq), undefined);
      else handle.close();
    }
    return n;
  }
}

/** Why no descriptor can be opened now (EMFILE, ENFILE), or undefined when one can. */
export function descriptorShortage(): string | undefined {
  try {
    closeSync(openSync('/dev/null', 'r'));
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EMFILE') return 'too many open files (EMFILE)';
    if (code === 'ENFILE') return 'the system file table is full (ENFILE)';
    return undefined;
  }
}

const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 1_000;

/**
 * Worker side. A connection that arrives without its socket (the worker is out of
 * descriptors) is answered "not taken" after a delay that doubles, up to 1 s, while it
 * keeps happening: as nginx pauses accept on EMFILE, the worker gets no new connection
 * meanwhile (the primary waits for the answer), the other workers do, and this one is
 * offered connections again once the delay is over. `blocked` and `resumed` report the
 * state for readiness.
 */
export function answerDroppedHandoffs(report: { blocked(reason: string): void; resumed(): void }): void {
  let delay = 0;
  (process as NodeJS.EventEmitter).on('internalMessage', (m: ClusterMessage, handle: unknown) => {
    if (m?.cmd !== 'NODE_HANDLE' || !isNewConnection(m.msg)) return;
    if (handle !== undefined && handle !== null) {
      if (delay !== 0) {
        delay = 0;
        report.resumed();
      }
      return;
    }
    if (delay === 0) report.blocked(descriptorShortage() ?? 'a connection passed by the primary arrived without its socket');
    delay = Math.min(MAX_RETRY_MS, delay === 0 ? FIRST_RETRY_MS : delay * 2);
    const seq = m.msg.seq;
    setTimeout(() => process.send?.(notTaken(seq)), delay);
  });
}
