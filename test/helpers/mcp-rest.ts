import http from 'node:http';
import { startLoopbackServer, type LoopbackServer, type ReceivedRequest } from './loopback-server.js';

// The REST API behind mcp-server's tests: a weather lookup (path, query, header args and a
// config value), an order endpoint that echoes what it got, a search that echoes its query,
// and one that always fails. `received` keeps every request it got.

export interface McpRest {
  server: LoopbackServer;
  received: ReceivedRequest[];
  close(): void;
}

export async function startMcpRest(): Promise<McpRest> {
  const received: ReceivedRequest[] = [];
  const server = await startLoopbackServer((req, res) => {
    received.push(req);
    const url = new URL(req.url, 'http://x');
    const json = (status: number, body: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)); };
    if (url.pathname.startsWith('/weather/')) {
      json(200, { city: decodeURIComponent(url.pathname.slice('/weather/'.length)), temp: 21, units: url.searchParams.get('units'),
        key: req.headers['x-api-key'] ?? null });
    } else if (url.pathname === '/orders' || url.pathname === '/notes') {
      json(201, { got: req.body.toString(), type: req.headers['content-type'] ?? null, cookie: req.headers.cookie ?? null });
    } else if (url.pathname === '/slow') {
      setTimeout(() => json(200, { late: true }), 1500).unref();
    } else if (url.pathname === '/search') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`results for ${url.search}`);
    } else {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
    }
  });
  return { server, received, close: () => server.server.close() };
}

/** The mcp-server config the tests serve: five tools, `hidden` left out by allowTools. */
export function mcpServerConf(restUrl: string): Record<string, unknown> {
  return {
    server: { name: 'weather-server', config: { apiKey: 'rest-secret' } },
    tools: [
      { name: 'get_weather', description: 'The weather in a city',
        args: [
          { name: 'city', description: 'City name', required: true, position: 'path' },
          { name: 'units', description: 'Units', enum: ['metric', 'imperial'], default: 'metric', position: 'query' },
        ],
        requestTemplate: { url: `${restUrl}/weather/{city}`, method: 'GET', headers: [{ key: 'X-Api-Key', value: '{{.config.apiKey}}' }] },
        responseTemplate: { body: '{{.city}}: {{.temp}} degrees ({{.units}}), key {{.key}}' } },
      { name: 'create_order', description: 'Places an order',
        args: [
          { name: 'item', description: 'What', required: true },
          { name: 'qty', description: 'How many', type: 'integer' },
          { name: 'session', description: 'Shop session', position: 'cookie' },
        ],
        requestTemplate: { url: `${restUrl}/orders`, method: 'POST', argsToJsonBody: true },
        responseTemplate: { prependBody: 'Order: ', appendBody: '.' } },
      { name: 'search', description: 'Searches',
        args: [{ name: 'q', description: 'Query', required: true }, { name: 'limit', description: 'Most results', type: 'number' }],
        requestTemplate: { url: `${restUrl}/search`, method: 'GET', argsToUrlParam: true } },
      { name: 'add_note', description: 'Adds a note',
        args: [{ name: 'text', description: 'The note', required: true }, { name: 'tags', description: 'Tags', type: 'array', items: { type: 'string' } }],
        requestTemplate: { url: `${restUrl}/notes`, method: 'PUT', headers: [{ key: 'Content-Type', value: 'application/json' }],
          body: '{"note": {{toJson .args.text}}, "tags": {{toJson .args.tags}}}' } },
      { name: 'broken', description: 'Always fails', requestTemplate: { url: `${restUrl}/fail`, method: 'GET' } },
      { name: 'hidden', description: 'Not allowed', requestTemplate: { url: `${restUrl}/fail`, method: 'GET' } },
    ],
    allowTools: ['get_weather', 'create_order', 'search', 'add_note', 'broken'],
  };
}

export interface RawAnswer { status: number; headers: http.IncomingHttpHeaders; body: string }

/** One request on a connection of its own (so the node's workers take turns answering). */
export function rawPost(url: string, body: string | undefined, headers: Record<string, string>, method = 'POST'): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, headers: { connection: 'close', ...headers }, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}
