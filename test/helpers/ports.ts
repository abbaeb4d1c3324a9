import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

// Free ports on 127.0.0.1 for real servers a test starts (redis, etcd, rsyslog, dnsmasq)
// that need a port number on their command line rather than binding port 0 themselves.

/** A TCP port free on 127.0.0.1 now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A UDP port free on 127.0.0.1 now. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
