import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CompiledRoute, DataPlaneSnapshot } from './snapshot.js';
import { RequestVars } from './request-vars.js';

/**
 * One request's journey through the data plane: what was matched and what has been
 * decided so far. Phase handlers (the plugin runtime) read and write this, never the
 * raw response.
 */
export class Exchange {
  readonly vars: RequestVars;
  route: CompiledRoute | undefined;
  /** The path and query forwarded upstream (nginx `upstream_uri`); the client's target unless rewritten. */
  upstreamUri: string;
  clientGone = false;
  bodyTooLarge = false;
  readonly startedAt: number;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly snapshot: DataPlaneSnapshot,
    path: string,
    query: string,
    host: string,
    remoteAddr: string,
    serverPort: number,
    scheme: 'http' | 'https',
    upstreamUri: string,
  ) {
    this.vars = new RequestVars({ req, path, query, host, remoteAddr, serverPort, scheme });
    this.upstreamUri = upstreamUri;
    this.startedAt = performance.now();
  }
}
