// proxy-mirror: copies each sampled request (method, headers, body) to a mirror host
// (APISIX proxy-mirror). The copy is sent and forgotten: its answer, its slowness or
// its death never reach the client. Runs last (the seed's Router filter).
import http from 'node:http';
import https from 'node:https';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import type { PluginContext } from '../contracts/plugin.js';
import { fastCounter, type LabelledCounter } from '../observability/fast-metrics.js';

export interface ProxyMirrorConf {
  host: string;
  path?: string;
  path_concat_mode: 'replace' | 'prefix';
  sample_ratio: number;
}

interface ProxyMirrorPrepared {
  target: URL;
  path: string | undefined;
  prefix: boolean;
  sampleRatio: number;
}

/** Mirror requests in flight in this worker; past the bound a copy is dropped, not queued. */
export const MAX_MIRRORS_IN_FLIGHT = 64;
/** Bodies larger than this (or of unknown length) are not mirrored: the copy would cost memory. */
export const MAX_MIRRORED_BODY = 1024 * 1024;
const MIRROR_TIMEOUT_MS = 10_000;
// hop-by-hop headers belong to the client's connection, not to the copy
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host', 'content-length']);

export const mirrorStats = { inFlight: 0 };

/**
 * What became of each request the plugin saw, in `gatehouse_proxy_mirror_requests_total{route,
 * result}`: `sent` (the mirror answered, whatever its status), `failed` (no answer: refused,
 * reset, or past the timeout), `dropped` (MAX_MIRRORS_IN_FLIGHT copies already in flight),
 * `too_large` (a body over MAX_MIRRORED_BODY or of unknown length: not copied), `sampled_out`
 * (not picked by `sample_ratio`).
 */
export type MirrorResult = 'sent' | 'failed' | 'dropped' | 'too_large' | 'sampled_out';
let requests: LabelledCounter | undefined;

/** Created on first use, so a node without proxy-mirror exports none. */
export function mirrorRequests(): LabelledCounter {
  return requests ??= fastCounter('gatehouse_proxy_mirror_requests_total',
    'Requests proxy-mirror saw, by route and what became of their copy', ['route', 'result']);
}

function count(route: string, result: MirrorResult): void {
  mirrorRequests().labels(route, result).inc();
}

function mirrorPath(p: ProxyMirrorPrepared, ctx: PluginContext): string {
  const requestUri = String(ctx.var('request_uri') ?? ctx.request.uri);
  if (p.path === undefined) return requestUri;
  if (!p.prefix) return p.path;
  return p.path.replace(/\/$/, '') + requestUri;
}

function send(p: ProxyMirrorPrepared, ctx: PluginContext, path: string, body: Buffer): void {
  const headers: Record<string, string> = {};
  for (const [name, v] of Object.entries(ctx.request.allHeaders?.() ?? {})) if (!HOP_BY_HOP.has(name)) headers[name] = v;
  headers['host'] = p.target.host;
  headers['content-length'] = String(body.length);
  const lib = p.target.protocol === 'https:' ? https : http;
  const route = ctx.routeId ?? '';
  mirrorStats.inFlight++;
  let done = false;
  const finish = (failed: boolean) => {
    if (done) return;
    done = true;
    mirrorStats.inFlight--;
    count(route, failed ? 'failed' : 'sent');
  };
  const req = lib.request({
    protocol: p.target.protocol, hostname: p.target.hostname.replace(/^\[|\]$/g, ''), port: p.target.port || undefined,
    method: ctx.request.method, path, headers, timeout: MIRROR_TIMEOUT_MS,
  }, (res) => {
    res.resume();
    res.on('end', () => finish(false));
    res.on('error', () => finish(true));
    res.on('close', () => finish(false));
  });
  req.on('timeout', () => req.destroy(new Error('mirror timeout')));
  req.on('error', (err) => {
    finish(true);
    ctx.log.debug(`proxy-mirror: ${p.target.origin} failed: ${err.message}`);
  });
  req.end(body);
}

export default definePlugin<ProxyMirrorConf, ProxyMirrorPrepared>({
  name: 'proxy-mirror',
  description: 'Copies requests to a mirror host without affecting the client\'s response.',
  version: '0.1',
  stage: 'default',
  priority: -2000,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['host'],
    properties: {
      host: { type: 'string', pattern: '^https?://([0-9a-zA-Z.-]+|\\[[0-9a-fA-F:]+\\])(:[0-9]+)?$', maxLength: 1024 },
      path: { type: 'string', pattern: '^/[^?&]+$', maxLength: 4096 },
      path_concat_mode: { type: 'string', enum: ['replace', 'prefix'], default: 'replace' },
      sample_ratio: { type: 'number', minimum: 0.00001, maximum: 1, default: 1 },
    },
  },

  prepare(conf) {
    return {
      target: new URL(conf.host),
      path: conf.path,
      prefix: (conf.path_concat_mode ?? 'replace') === 'prefix',
      sampleRatio: conf.sample_ratio ?? 1,
    };
  },

  async access(p, ctx) {
    const route = ctx.routeId ?? '';
    if (p.sampleRatio < 1 && Math.random() >= p.sampleRatio) {
      count(route, 'sampled_out');
      return undefined;
    }
    if (mirrorStats.inFlight >= MAX_MIRRORS_IN_FLIGHT) {
      count(route, 'dropped');
      return undefined;
    }
    let body: Buffer = Buffer.alloc(0);
    const length = ctx.request.header('content-length');
    const chunked = ctx.request.header('transfer-encoding') !== undefined;
    if (chunked || (length !== undefined && Number(length) > MAX_MIRRORED_BODY)) {
      count(route, 'too_large');
      return undefined;
    }
    if (length !== undefined && Number(length) > 0) {
      try {
        body = await ctx.request.body();
      } catch {
        return undefined; // the request itself fails on its body; nothing to mirror
      }
    }
    try {
      send(p, ctx, mirrorPath(p, ctx), body);
    } catch (err) {
      count(route, 'failed');
      ctx.log.warn(`proxy-mirror: ${(err as Error).message}`);
    }
    return undefined;
  },
});
