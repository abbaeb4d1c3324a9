// The bench's own servers (upstream, fake LLM) as child processes: a node:http server on
// 127.0.0.1:<--port>, keep-alive kept long so proxies keep their pooled connections, exiting on
// SIGTERM/SIGINT.
import { createServer, type RequestListener } from 'node:http';

export function serveOnLoopback(name: string, handler: RequestListener): void {
  const portArg = process.argv.find((a) => a.startsWith('--port='));
  const port = Number(portArg?.slice(7) ?? '0');
  const server = createServer({ keepAlive: true }, handler);
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.requestTimeout = 0;
  server.listen(port, '127.0.0.1', () => {
    const addr = server.address();
    const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
    process.stdout.write(`${name} listening on 127.0.0.1:${bound}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}
