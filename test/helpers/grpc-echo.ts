import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

// A real gRPC server (@grpc/grpc-js) on loopback for the gateway's gRPC tests: an Echo
// service with the four call kinds. Replies say which server answered and which metadata
// it got; every call sends the trailer `x-trailer: <method>`.

const PROTO = `syntax = "proto3";
package echo;
message EchoRequest { string message = 1; int32 count = 2; int32 delay_ms = 3; int32 fail_code = 4; }
message EchoReply { string message = 1; string server = 2; string metadata = 3; }
service Echo {
  rpc Unary (EchoRequest) returns (EchoReply);
  rpc ServerStream (EchoRequest) returns (stream EchoReply);
  rpc ClientStream (stream EchoRequest) returns (EchoReply);
  rpc Bidi (stream EchoRequest) returns (stream EchoReply);
}
`;

export interface EchoRequest { message?: string; count?: number; delay_ms?: number; fail_code?: number }
export interface EchoReply { message: string; server: string; metadata: string }

/** The Echo service's client constructor, loaded from the proto above. */
export function echoService(): grpc.ServiceClientConstructor {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-proto-'));
  try {
    const file = join(dir, 'echo.proto');
    writeFileSync(file, PROTO);
    const def = protoLoader.loadSync(file, { keepCase: true, defaults: true });
    return (grpc.loadPackageDefinition(def).echo as grpc.GrpcObject).Echo as grpc.ServiceClientConstructor;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface EchoServer { port: number; server: grpc.Server; close(): Promise<void> }

function metadataOf(call: { metadata: grpc.Metadata }): string {
  const m = call.metadata.get('x-client');
  return m.length > 0 ? String(m[0]) : '';
}

function trailer(method: string): grpc.Metadata {
  const t = new grpc.Metadata();
  t.set('x-trailer', method);
  return t;
}

/** Starts the Echo server; `tls` serves grpcs with that certificate. */
export async function startEchoServer(name: string, tls?: { cert: string; key: string }): Promise<EchoServer> {
  const server = new grpc.Server();
  server.addService(echoService().service, {
    Unary: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      const r = call.request;
      const header = new grpc.Metadata();
      header.set('x-server', name);
      // a slow call sends its head at once only when asked (count > 0); else the head waits for the answer
      if (!r.delay_ms || (r.count ?? 0) > 0) call.sendMetadata(header);
      setTimeout(() => {
        if (r.fail_code) cb({ code: r.fail_code, details: `failed as asked: ${r.message}`, metadata: trailer('Unary') });
        else cb(null, { message: r.message ?? '', server: name, metadata: metadataOf(call) }, trailer('Unary'));
      }, r.delay_ms ?? 0);
    },
    ServerStream: (call: grpc.ServerWritableStream<EchoRequest, EchoReply>) => {
      const r = call.request;
      for (let i = 0; i < (r.count ?? 0); i++) call.write({ message: `${r.message}-${i}`, server: name, metadata: metadataOf(call) });
      call.end(trailer('ServerStream'));
    },
    ClientStream: (call: grpc.ServerReadableStream<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      const parts: string[] = [];
      call.on('data', (r: EchoRequest) => parts.push(r.message ?? ''));
      call.on('end', () => cb(null, { message: parts.join(','), server: name, metadata: metadataOf(call) }, trailer('ClientStream')));
    },
    Bidi: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
      call.on('data', (r: EchoRequest) => call.write({ message: `echo:${r.message}`, server: name, metadata: metadataOf(call) }));
      call.on('end', () => call.end(trailer('Bidi')));
    },
  });
  const creds = tls === undefined ? grpc.ServerCredentials.createInsecure()
    : grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }]);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    port, server,
    close: () => new Promise<void>((resolve) => {
      const timer = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
      server.tryShutdown(() => { clearTimeout(timer); resolve(); });
    }),
  };
}
