import { gauge } from './metrics.js';

// APISIX's nginx stub_status gauges, as far as Node can count them honestly: open client
// connections (`active`), connections accepted and `handled` (the same number: Node
// refuses none after accepting), and requests received. nginx's `reading`, `writing` and
// `waiting` states have no reliable equivalent in Node's HTTP server and are left out
// rather than guessed. Each worker reports its own; the export sums them.

export interface ConnectionStats {
  active: number;
  accepted: number;
  requests: number;
}

/** Registers the gauges; `source` is read on every scrape (undefined before the data plane listens). */
export function exportConnectionStats(source: () => Promise<ConnectionStats> | undefined): void {
  let last: ConnectionStats | undefined;
  const read = async (): Promise<ConnectionStats | undefined> => {
    last = (await source()) ?? last;
    return last;
  };
  gauge('apisix_nginx_http_current_connections', 'Number of HTTP connections', ['state'], async function collect() {
    const s = await read();
    if (s === undefined) return;
    this.set({ state: 'active' }, s.active);
    this.set({ state: 'accepted' }, s.accepted);
    this.set({ state: 'handled' }, s.accepted);
  });
  gauge('apisix_http_requests_total', 'The total number of client requests since the gateway started', [], async function collect() {
    const s = await read();
    if (s !== undefined) this.set(s.requests);
  });
}
