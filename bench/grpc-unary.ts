// The gRPC unary call of the `grpc` scenario: one length-prefixed message each way (gRPC's
// 5-byte frame: compressed flag 0, 4-byte big-endian length, then the protobuf bytes).
import type { BenchRequest } from './scenarios.js';

/** A message framed for the wire: `0`, length (4 bytes, big-endian), bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** `message Ping { string text = 1; }` with text "ping": field 1, wire type 2, length 4. */
const PING = Buffer.from([0x0a, 4, ...Buffer.from('ping')]);
/** The server's reply, the same shape with text "pong from the gatehouse bench grpc server". */
const PONG_TEXT = Buffer.from('pong from the gatehouse bench grpc server');
export const GRPC_REPLY = grpcFrame(Buffer.concat([Buffer.from([0x0a, PONG_TEXT.length]), PONG_TEXT]));

export const GRPC_PATH = '/bench.Bench/Unary';

/** What h2load sends on every stream (`-d` with the body, `-H` with each header): a POST, as gRPC calls are. */
export const GRPC_REQUEST: BenchRequest = {
  method: 'POST',
  headers: { 'content-type': 'application/grpc', te: 'trailers' },
  // every byte is below 0x80, so the string is the frame byte for byte (latin1 = utf8 here)
  body: grpcFrame(PING).toString('latin1'),
};
