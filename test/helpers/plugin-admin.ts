// Puts routes carrying one plugin through the Admin API of a fresh sqlite-backed gateway,
// for the tests that check which configs of that plugin are refused (a standalone
// gateway's Admin API is read-only).
import { startGateway } from './gateway.js';
import { adminClient, type AdminReply } from '../integration/admin/client.js';

export type PutPluginRoute = (conf: Record<string, unknown>) => Promise<AdminReply>;

export async function withPluginRoutes(plugin: string, fn: (put: PutPluginRoute) => Promise<void>): Promise<void> {
  const gw = await startGateway({ store: 'sqlite', workers: 1 });
  let n = 0;
  try {
    const call = adminClient(gw);
    await fn((conf) => call('PUT', `/routes/r${++n}`,
      { uri: `/r${n}`, upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { [plugin]: conf } }));
  } finally {
    await gw.stop();
  }
}
