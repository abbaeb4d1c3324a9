import type { Server } from 'node:net';
import type { ListenConfig } from '../contracts/node-config.js';

/** Where a listener ended up (port 0 resolved to the real port). */
export interface BoundAddress { host: string; port: number; tls: boolean }

/** Binds `server` to `l`, rejecting with the bind error (EADDRINUSE, EACCES) instead of emitting it. */
export function listenOn(server: Server, l: ListenConfig): Promise<BoundAddress> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: l.host, port: l.port }, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve({ host: l.host, port: typeof addr === 'object' && addr !== null ? addr.port : l.port, tls: l.tls === true });
    });
  });
}

/** Closes a control-plane listener at once, open keep-alive connections included. */
export function closeNow(server: Server & { closeAllConnections?: () => void }): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}
