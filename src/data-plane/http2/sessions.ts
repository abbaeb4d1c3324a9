import http2, { constants, type ServerHttp2Session, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { NodeConfig } from '../../contracts/node-config.js';
import type { ClientResponse } from '../client-response.js';
import type { ErrorCode } from '../../core/errors.js';
import type { HttpRequest } from '../http1/request.js';
import { Http2Request } from './stream-request.js';
import { Http2Response } from './stream-response.js';
import { http2RequestHead } from './request-head.js';

const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM, NGHTTP2_NO_ERROR } = constants;

export type Http2Settings = NodeConfig['node']['http2'];

export interface Http2Handlers {
  onRequest(req: HttpRequest, res: ClientResponse, scheme: 'http' | 'https'): void;
  /** A request this layer answers itself with a catalogued error: CONNECT (501), a header list over the limit (431). */
  refuse(res: ClientResponse, code: ErrorCode): void;
}

/** What a session did in the current abuse window, and its open streams. */
interface SessionState {
  socket: Socket;
  remoteAddr: string;
  localPort: number;
  scheme: 'http' | 'https';
  streams: number;
  windowStart: number;
  resets: number;
  controlFrames: number;
}

/**
 * The HTTP/2 sessions of one worker, on sockets the HTTP/1.1 listeners hand over: TLS
 * connections that chose `h2` by ALPN, plain ones that opened with the connection preface
 * (h2c by prior knowledge). Each stream becomes an Http2Request/Http2Response pair for the
 * same lifecycle HTTP/1.1 requests go through.
 *
 * node's nghttp2 enforces the advertised limits (concurrent streams, header list size,
 * windows, frame size, session memory, CONTINUATION count, outbound ACK queue); the abuse
 * counters here add what it leaves to the application: a client resetting streams faster
 * than `max_client_resets` per window (CVE-2023-44487), or sending more than
 * `max_control_frames` PING/SETTINGS frames, gets GOAWAY ENHANCE_YOUR_CALM and is closed.
 */
export class Http2Sessions {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Map<ServerHttp2Session, SessionState>();
  private readonly windowMs: number;
  closing = false;
  private accepting: SessionState | undefined;

  constructor(private readonly handlers: Http2Handlers, private readonly settings: Http2Settings,
    private readonly limits: { maxBodySize: number; keepAliveTimeoutMs: number }, private readonly log: Logger) {
    this.windowMs = settings.abuse_window * 1000;
    this.server = http2.createServer({
      maxSessionMemory: settings.max_session_memory,
      // node counts header pairs separately (default 128, which a header list of small fields passes)
      maxHeaderListPairs: Math.max(128, Math.ceil(settings.max_header_list_size / 32)),
      maxSettings: 32,
      maxOutstandingPings: 10,
      // node's own flood guards, at their defaults: a session sending this many invalid frames
      // (empty DATA, bad HEADERS…) or streams refused past max_concurrent_streams is closed
      maxSessionInvalidFrames: 1000,
      maxSessionRejectedStreams: 100,
      peerMaxConcurrentStreams: settings.max_concurrent_streams,
      settings: {
        maxConcurrentStreams: settings.max_concurrent_streams,
        maxHeaderListSize: settings.max_header_list_size,
        initialWindowSize: settings.initial_window_size,
        maxFrameSize: settings.max_frame_size,
        enablePush: false,
      },
    });
    this.server.on('session', (session: ServerHttp2Session) => this.opened(session));
    this.server.on('sessionError', (err: Error) => this.log.debug({ err: err.message }, 'HTTP/2 session error'));
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Takes a connection that speaks HTTP/2. `preface`: bytes already read off a plain
   * socket (the connection preface and whatever followed it), given back to the session.
   */
  accept(socket: Socket, scheme: 'http' | 'https', preface?: Buffer): void {
    if (this.closing || socket.destroyed) {
      socket.destroy();
      return;
    }
    if (preface !== undefined) {
      socket.pause();
      socket.unshift(preface);
    }
    const addr = socket.remoteAddress ?? '';
    // node makes the session synchronously inside this emit: `opened` picks the state up from here
    this.accepting = {
      socket, remoteAddr: addr.startsWith('::ffff:') ? addr.slice(7) : addr, localPort: socket.localPort ?? 0, scheme,
      streams: 0, windowStart: Date.now(), resets: 0, controlFrames: 0,
    };
    try {
      this.server.emit('connection', socket);
    } finally {
      this.accepting = undefined;
    }
  }

  private opened(session: ServerHttp2Session): void {
    const state = this.accepting;
    if (state === undefined) {
      session.destroy();
      return;
    }
    this.sessions.set(session, state);
    session.on('close', () => this.sessions.delete(session));
    // The session's own event, not the server's: a stream already reset has lost its `session`.
    session.on('stream', (stream: ServerHttp2Stream, _headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) =>
      this.stream(session, state, stream, flags, rawHeaders));
    session.on('error', () => undefined); // reported through sessionError; the socket closes with it
    session.on('remoteSettings', () => this.control(session, state));
    session.on('ping', () => this.control(session, state));
    session.setTimeout(this.limits.keepAliveTimeoutMs, () => {
      if (state.streams === 0) session.close();
    });
  }

  private stream(session: ServerHttp2Session, state: SessionState, stream: ServerHttp2Stream, flags: number, rawHeaders: string[]): void {
    if (this.closing) {
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    // node emits the stream on a later tick: with HEADERS and RST_STREAM in one read it is already reset
    if (stream.destroyed || stream.closed) {
      if (stream.rstCode !== NGHTTP2_NO_ERROR) this.clientReset(session, state);
      return;
    }
    state.streams++;
    const head = http2RequestHead(rawHeaders);
    const res = new Http2Response(stream, head?.method === 'HEAD');
    stream.once('close', () => {
      state.streams--;
      if (stream.rstCode !== NGHTTP2_NO_ERROR && !res.writableFinished && !res.resetHere) this.clientReset(session, state);
    });
    if (head === undefined) {
      this.handlers.refuse(res, 'GH_ERR_CLIENT_NOT_IMPLEMENTED');
      return;
    }
    // nghttp2 applies the advertised SETTINGS_MAX_HEADER_LIST_SIZE only once the client
    // acknowledged it (until then node's default holds): a client that never does is held to it here.
    if (head.headBytes > this.settings.max_header_list_size) {
      this.handlers.refuse(res, 'GH_ERR_CLIENT_HEADERS_TOO_LARGE');
      return;
    }
    const hasBody = (flags & NGHTTP2_FLAG_END_STREAM) === 0 && head.headers['content-length'] !== '0';
    if (!hasBody) stream.resume(); // an empty DATA frame that ends the stream is read, not left waiting
    const req = new Http2Request(stream, head, state.socket, state.remoteAddr, state.localPort, hasBody, this.limits.maxBodySize);
    this.handlers.onRequest(req, res, state.scheme);
  }

  private clientReset(session: ServerHttp2Session, state: SessionState): void {
    this.roll(state);
    if (++state.resets > this.settings.max_client_resets) this.calm(session, state, 'too many streams reset by the client (rapid reset)');
  }

  private control(session: ServerHttp2Session, state: SessionState): void {
    this.roll(state);
    if (++state.controlFrames > this.settings.max_control_frames) this.calm(session, state, 'too many PING/SETTINGS frames');
  }

  private roll(state: SessionState): void {
    const now = Date.now();
    if (now - state.windowStart >= this.windowMs) {
      state.windowStart = now;
      state.resets = 0;
      state.controlFrames = 0;
    }
  }

  /** GOAWAY ENHANCE_YOUR_CALM, then the session is gone: its streams with it. */
  private calm(session: ServerHttp2Session, state: SessionState, why: string): void {
    if (session.destroyed) return;
    this.log.warn({ remote_addr: state.remoteAddr }, `HTTP/2 session closed: ${why}`);
    session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  }

  /** Graceful drain: every session gets GOAWAY; streams in flight finish, no new ones are taken. */
  stopAccepting(): void {
    this.closing = true;
    for (const session of this.sessions.keys()) session.close();
  }

  closeIdleSessions(): void {
    for (const [session, state] of this.sessions) if (state.streams === 0) session.destroy();
  }

  closeAll(): void {
    for (const session of this.sessions.keys()) session.destroy();
    this.server.close();
  }
}
