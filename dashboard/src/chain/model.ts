// The plugin chain inspector's answer (GET /apisix/admin/routes/{id}/plugin-chain, see
// src/admin-api/plugin-chain.ts) and the routes it is asked about.
import { api } from '../api.js';
// The Admin API's own shapes (types only: nothing of the server is bundled).
import type { PluginChainReport } from '../../../src/contracts/plugin-chain.js';

export type { ChainEntry, PhaseStep, PluginChainReport } from '../../../src/contracts/plugin-chain.js';

export const REQUEST_PHASES = ['preflight', 'rewrite', 'access', 'before_proxy'] as const;

/** The sample request of the "try a request" box (a subset of InspectRequest). */
export interface SampleRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  consumer?: string;
}

export function loadChain(routeId: string, request?: SampleRequest): Promise<PluginChainReport> {
  const query = request === undefined ? '' : `?request=${encodeURIComponent(JSON.stringify(request))}`;
  return api<PluginChainReport>('GET', `/routes/${encodeURIComponent(routeId)}/plugin-chain${query}`);
}

/** `Name: value` lines into headers; the line that is not one is the error. */
export function parseHeaderLines(text: string): { headers: Record<string, string> } | { badLine: string } {
  const headers: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return { badLine: line };
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers };
}

export type PluginCosts = Map<string, { mean_us: number | null; p99_us: number | null; calls: number }>;

/** Cost per `plugin/phase` since the workers started (the summary's cumulative figures). */
export async function loadPluginCosts(): Promise<PluginCosts> {
  const summary = await api<{ plugins: { plugin: string; phase: string; calls: number; mean_us: number | null; p99_us: number | null }[] }>('GET', '/metrics/summary');
  return new Map(summary.plugins.map((p) => [`${p.plugin}/${p.phase}`, { mean_us: p.mean_us, p99_us: p.p99_us, calls: p.calls }]));
}

export interface RouteRow {
  id: string;
  name: string;
  uris: string[];
  methods: string[];
  plugins: string[];
}

export async function loadRoutes(): Promise<RouteRow[]> {
  const list = await api<{ list: { value: Record<string, unknown> & { id: string } }[] }>('GET', '/routes');
  return list.list.map(({ value: v }) => ({
    id: String(v.id),
    name: typeof v.name === 'string' ? v.name : '',
    uris: Array.isArray(v.uris) ? v.uris as string[] : typeof v.uri === 'string' ? [v.uri] : [],
    methods: Array.isArray(v.methods) ? v.methods as string[] : [],
    plugins: Object.keys((v.plugins ?? {}) as Record<string, unknown>),
  })).sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
}
