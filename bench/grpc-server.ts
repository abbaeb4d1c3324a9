// Benchmark gRPC unary server: node:http2 on h2c (prior knowledge), one process. Every POST is
// answered as a successful gRPC unary call: the request drained, one fixed framed message
// (GRPC_REPLY) and trailers `grpc-status: 0`. No protobuf decoding and no @grpc/grpc-js: that
// server costs several times the CPU per call, so it, not the proxies, would be measured.
// Usage: node dist/bench/grpc-server.js --port=<port>   (binds 127.0.0.1 only)
import http2, { type ServerHttp2Stream } from 'node:http2';
import { GRPC_REPLY } from './grpc-unary.js';

const HEAD = { ':status': 200, 'content-type': 'application/grpc' };
const TRAILERS = { 'grpc-status': '0' };

function answer(stream: ServerHttp2Stream): void {
  stream.on('error', () => undefined);
  stream.resume();
  stream.once('wantTrailers', () => stream.sendTrailers(TRAILERS));
  stream.respond(HEAD, { waitForTrailers: true });
  stream.end(GRPC_REPLY);
}

const portArg = process.argv.find((a) => a.startsWith('--port='));
// window and concurrency limits above h2load's 25 streams per connection, so the server is never what waits
const server = http2.createServer({ settings: { maxConcurrentStreams: 1000, initialWindowSize: 1 << 20 } });
server.on('stream', answer);
server.on('session', (s) => s.on('error', () => undefined));
server.listen(Number(portArg?.slice(7) ?? '0'), '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`grpc server listening on 127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : '?'}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
