// One etcd client (etcd3 on grpc-js) with what the store needs around it: every request
// bounded by `store.etcd.timeout`, failures turned into GatehouseErrors that name the
// endpoints, and reachability. When a request or the watch fails to reach etcd the
// connection is "down": requests fail at once instead of waiting for a timeout, and a
// cheap probe runs every `probeIntervalMs` until etcd answers again.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { handleWhen, noop, retry } from 'cockatiel';
import {
  Etcd3, EtcdAuthenticationFailedError, EtcdPermissionDeniedError, EtcdWatchStreamEnded, GRPCResourceExhastedError, castGrpcError,
  isRecoverableError,
  type IOptions,
} from 'etcd3';
import { GatehouseError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

export interface EtcdTlsFiles {
  /** CA certificate(s) that sign etcd's server certificate (PEM file); absent = the system's. */
  ca?: string;
  /** Client certificate and key (PEM files), for etcd's --client-cert-auth. */
  cert?: string;
  key?: string;
  /** false = accept any server certificate (APISIX's etcd.tls.verify). Default true. */
  verify?: boolean;
}

export interface EtcdConnectionOptions {
  endpoints: string[];
  user?: string;
  password?: string;
  tls?: EtcdTlsFiles;
  timeoutMs: number;
  probeIntervalMs: number;
  /** A key the configured user may read (the probe reads it). */
  probeKey: string;
  log: Logger;
}

export type ReachabilityListener = (up: boolean, detail?: string) => void;

/** The probe is the only request while etcd is down: short, so a return is noticed within a second. */
const PROBE_TIMEOUT_MS = 1000;
/** The least time one attempt on one endpoint gets. */
const MIN_ATTEMPT_MS = 1000;
/** Wrong credentials stay wrong: probing them cost etcd a password hash each time, so less often. */
const AUTH_PROBE_INTERVAL_MS = 5000;

type Failure = { reachability: 'down' | 'auth' | 'up'; error: Error };

class TimeoutError extends Error {}

export class EtcdConnection {
  readonly client: Etcd3;
  /** The endpoints as messages name them. */
  readonly endpoints: string;
  private up = true;
  private detail: string | undefined;
  private authFailed = false;
  private probing = false;
  private closed = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<ReachabilityListener>();

  constructor(private readonly opts: EtcdConnectionOptions) {
    this.endpoints = opts.endpoints.join(', ');
    this.client = createClient(opts);
  }

  reachable(): boolean {
    return this.up;
  }

  /** Why etcd is down, or undefined while it answers. */
  downDetail(): string | undefined {
    return this.up ? undefined : this.detail;
  }

  onReachability(listener: ReachabilityListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /**
   * Runs one request with a deadline of the configured timeout. While etcd is known to be
   * down it throws GH_ERR_STORE_UNAVAILABLE at once, without trying.
   */
  async request<T>(call: (client: Etcd3) => Promise<T>): Promise<T> {
    if (this.closed) throw new GatehouseError('GH_ERR_STORE_UNAVAILABLE', `the etcd store (${this.endpoints}) is closed`);
    if (!this.up) throw this.unavailable(this.detail ?? 'no answer');
    return this.attempt(call, this.opts.timeoutMs);
  }

  /**
   * One request whatever the known state (the start check): throws a clear error naming
   * the endpoints when etcd cannot be reached or refuses the credentials.
   */
  async check(): Promise<void> {
    await this.attempt((c) => this.probeCall(c), this.opts.timeoutMs);
  }

  /** A connection failure seen elsewhere (the watch stream): marks etcd down and returns the error to throw. */
  failure(e: unknown): Error {
    const f = this.classify(e);
    if (f.reachability !== 'up') this.markDown(f.error.message, f.reachability === 'auth');
    return f.error;
  }

  /** etcd answered (a request or the watch). */
  markUp(): void {
    this.authFailed = false;
    if (this.up || this.closed) return;
    this.up = true;
    this.detail = undefined;
    this.opts.log.warn({ endpoints: this.endpoints }, 'etcd is reachable again');
    this.notify(true);
  }

  unavailable(detail: string): GatehouseError {
    return new GatehouseError('GH_ERR_STORE_UNAVAILABLE', detail.startsWith('etcd ') ? detail : `etcd ${this.endpoints} is unreachable: ${detail}`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    this.listeners.clear();
    this.client.close();
  }

  private async attempt<T>(call: (client: Etcd3) => Promise<T>, timeoutMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      // each attempt (one per endpoint at most) has its grpc deadline; the timer bounds them all
      const result = await Promise.race([
        call(this.client),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new TimeoutError(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      this.markUp();
      return result;
    } catch (e) {
      throw this.failure(e);
    } finally {
      clearTimeout(timer);
    }
  }

  private classify(e: unknown): Failure {
    if (e instanceof GatehouseError) return { reachability: 'up', error: e };
    const err = e instanceof Error ? castGrpcError(e) : new Error(String(e));
    const unavailable = (message: string): GatehouseError => new GatehouseError('GH_ERR_STORE_UNAVAILABLE', message, { cause: err });
    // etcd refusing a message over its size limit answers; it is not a connection failure
    if (err instanceof GRPCResourceExhastedError) return { reachability: 'up', error: err };
    if (err instanceof TimeoutError || err instanceof EtcdWatchStreamEnded || isRecoverableError(err)) {
      return { reachability: 'down', error: this.unavailable(grpcDetail(err.message)) };
    }
    if (err instanceof EtcdAuthenticationFailedError) {
      return {
        reachability: 'auth',
        error: unavailable(`etcd ${this.endpoints}: authentication failed for user "${this.opts.user ?? ''}": check store.etcd.user and store.etcd.password`),
      };
    }
    if (/user name is empty|token is not provided/.test(err.message)) {
      return {
        reachability: 'auth',
        error: unavailable(`etcd ${this.endpoints} requires authentication: set store.etcd.user and store.etcd.password`),
      };
    }
    if (err instanceof EtcdPermissionDeniedError) {
      return { reachability: 'up', error: unavailable(`etcd ${this.endpoints}: user "${this.opts.user ?? ''}" may not use ${this.opts.probeKey}: permission denied`) };
    }
    return { reachability: 'up', error: err };
  }

  private markDown(detail: string, authFailed: boolean): void {
    if (this.closed) return;
    this.detail = detail;
    this.authFailed = authFailed;
    if (this.up) {
      this.up = false;
      this.opts.log.error({ endpoints: this.endpoints, err: detail }, 'etcd is unreachable: writes are refused until it answers');
      this.notify(false, detail);
    }
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.probing || this.closed) return;
    this.probing = true;
    const interval = this.authFailed ? AUTH_PROBE_INTERVAL_MS : this.opts.probeIntervalMs;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.attempt((c) => this.probeCall(c), Math.min(this.opts.timeoutMs, PROBE_TIMEOUT_MS))
        .catch(() => undefined)
        .finally(() => {
          this.probing = false;
          if (!this.up) this.scheduleProbe();
        });
    }, interval);
    this.probeTimer.unref();
  }

  private async probeCall(client: Etcd3): Promise<void> {
    await client.kv.range({ key: Buffer.from(this.opts.probeKey), keys_only: true });
  }

  private notify(up: boolean, detail?: string): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(up, detail);
      } catch (e) {
        this.opts.log.error({ err: (e as Error).message }, 'etcd reachability listener failed');
      }
    }
  }
}

/** grpc's `14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED ... Resolution note: ` made readable. */
function grpcDetail(message: string): string {
  return message.replace(/^\d+ [A-Z_]+: /, '').replace(/Last error: Error: /, 'Last error: ').replace(/\.? Resolution note: $/, '');
}

function readTlsFile(field: 'ca' | 'cert' | 'key', file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `store.etcd.tls.${field}: cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
}

function createClient(opts: EtcdConnectionOptions): Etcd3 {
  // A call that fails on one endpoint is tried on the next: each attempt gets its share of
  // the timeout, so a silent endpoint cannot take all of it.
  const attemptMs = Math.max(MIN_ATTEMPT_MS, Math.floor(opts.timeoutMs / opts.endpoints.length));
  const options: IOptions = {
    hosts: opts.endpoints,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + attemptMs }),
    grpcOptions: {
      // a fresh channel after a failure must not inherit a shared subchannel's reconnect backoff (up to 2 min)
      'grpc.use_local_subchannel_pool': 1,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 1000,
      // a watch stream across a silent partition is noticed by its pings (etcd allows one per 5 s)
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5000,
      // a watch response carries whole revisions, and blob chunks (1 MiB each) pass through the watch
      'grpc.max_receive_message_length': -1,
    },
    faultHandling: {
      // No circuit breaker: it would keep refusing calls for seconds after etcd is back.
      // A failed call moves on to the next endpoint, each tried once.
      host: () => noop,
      global: opts.endpoints.length > 1 ? retry(handleWhen(isRecoverableError), { maxAttempts: opts.endpoints.length - 1 }) : noop,
    },
  };
  if (opts.user !== undefined) options.auth = { username: opts.user, password: opts.password ?? '' };
  const tls = opts.tls;
  if (tls !== undefined) {
    if (opts.endpoints.some((e) => !e.startsWith('https://'))) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', 'store.etcd.endpoints: with store.etcd.tls every endpoint must be an https:// URL');
    }
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', 'store.etcd.tls: cert and key go together (a client certificate needs its key)');
    }
    const ca = readTlsFile('ca', tls.ca);
    const cert = readTlsFile('cert', tls.cert);
    const key = readTlsFile('key', tls.key);
    // grpc takes null for "the system's CAs"; etcd3's type insists on a buffer
    options.credentials = { rootCertificate: ca ?? (null as unknown as Buffer), ...(key !== undefined ? { privateKey: key, certChain: cert! } : {}) };
  }
  if (tls?.verify === false) return withoutVerification(() => new Etcd3(options));
  return new Etcd3(options);
}

/**
 * etcd3 builds its grpc credentials (grpc.credentials.createSsl) in its constructor and
 * takes no verify options; `verify: false` hands them in by wrapping createSsl for the
 * duration of that constructor, which is synchronous.
 */
function withoutVerification(build: () => Etcd3): Etcd3 {
  const credentials = grpc.credentials as { createSsl: typeof grpc.credentials.createSsl };
  const createSsl = credentials.createSsl;
  credentials.createSsl = (root, key, cert) => createSsl(root, key, cert, { rejectUnauthorized: false, checkServerIdentity: () => undefined });
  try {
    return build();
  } finally {
    credentials.createSsl = createSsl;
  }
}
