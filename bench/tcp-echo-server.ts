// Benchmark TCP echo server: every byte a connection sends comes back (the stream route's
// upstream in the TCP echo sampler). Usage: node dist/bench/tcp-echo-server.js --port=<port>
// (binds 127.0.0.1 only).
import { createServer } from 'node:net';

const portArg = process.argv.find((a) => a.startsWith('--port='));
const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  socket.on('error', () => undefined);
  socket.pipe(socket);
});
server.listen(Number(portArg?.slice(7) ?? '0'), '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`tcp echo listening on 127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : '?'}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
