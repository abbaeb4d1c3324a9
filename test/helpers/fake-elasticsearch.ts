// A local server that speaks the part of Elasticsearch's REST API the elasticsearch-logger
// uses, as documented: `GET /` (the cluster's version) and `POST /_bulk` (NDJSON: an action
// line, then the document, each line ending in LF; `Content-Type: application/x-ndjson`),
// answering 200 with `{"errors":…,"items":[{"create":{"status":201,…}}]}`, a 400 for a
// malformed body, and a 401 without the expected basic credentials.
import { startLoopbackServer, type LoopbackServer } from './loopback-server.js';

export interface BulkAction { op: string; _index?: string; _type?: string }

export interface BulkRequest {
  authorization: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  actions: BulkAction[];
  docs: Record<string, unknown>[];
}

export interface FakeElasticsearch {
  url: string;
  server: LoopbackServer;
  bulks: BulkRequest[];
  /** `GET /` requests seen. */
  versionChecks: number;
  /** Documents of the next bulk to refuse (a mapping conflict), by position. */
  refuseNext: Set<number>;
  close(): Promise<void>;
}

/** Why a bulk body is malformed, or its parsed actions and documents. */
export function parseBulk(body: string): { actions: BulkAction[]; docs: Record<string, unknown>[] } | string {
  if (!body.endsWith('\n')) return 'The bulk request must be terminated by a newline [\\n]';
  const lines = body.slice(0, -1).split('\n');
  if (lines.length % 2 !== 0) return 'an action line without its document';
  const actions: BulkAction[] = [];
  const docs: Record<string, unknown>[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    let action: Record<string, BulkAction>;
    try {
      action = JSON.parse(lines[i]!) as Record<string, BulkAction>;
      docs.push(JSON.parse(lines[i + 1]!) as Record<string, unknown>);
    } catch {
      return `line ${i + 1}: not JSON`;
    }
    const ops = Object.keys(action);
    if (ops.length !== 1 || !['create', 'index'].includes(ops[0]!)) return `line ${i + 1}: unknown action ${ops.join(',')}`;
    actions.push({ ...action[ops[0]!], op: ops[0]! });
  }
  return { actions, docs };
}

/** `versionDelayMs`: how long `GET /` takes to answer (a cluster slow to tell its version). */
export async function startFakeElasticsearch(opts: { version?: string; credentials?: string; versionDelayMs?: number } = {}): Promise<FakeElasticsearch> {
  const bulks: BulkRequest[] = [];
  const refuseNext = new Set<number>();
  let versionChecks = 0;
  const expected = opts.credentials === undefined ? undefined : `Basic ${Buffer.from(opts.credentials).toString('base64')}`;
  const server = await startLoopbackServer((req, res) => {
    const json = (status: number, body: unknown): void => {
      res.statusCode = status;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    };
    if (expected !== undefined && req.headers.authorization !== expected) {
      json(401, { error: { type: 'security_exception', reason: 'missing authentication credentials' }, status: 401 });
      return;
    }
    if (req.method === 'GET' && req.url === '/') {
      versionChecks++;
      const answer = (): void => json(200, { name: 'fake', cluster_name: 'test', version: { number: opts.version ?? '8.13.0' }, tagline: 'You Know, for Search' });
      if (opts.versionDelayMs === undefined) answer();
      else setTimeout(answer, opts.versionDelayMs);
      return;
    }
    if (req.method !== 'POST' || req.url !== '/_bulk') {
      json(404, { error: 'no handler', status: 404 });
      return;
    }
    if (!String(req.headers['content-type']).startsWith('application/x-ndjson')) {
      json(406, { error: `Content-Type header [${req.headers['content-type']}] is not supported`, status: 406 });
      return;
    }
    const parsed = parseBulk(req.body.toString('utf8'));
    if (typeof parsed === 'string') {
      json(400, { error: { type: 'illegal_argument_exception', reason: parsed }, status: 400 });
      return;
    }
    bulks.push({ authorization: req.headers.authorization, headers: req.headers, ...parsed });
    const items = parsed.actions.map((a, i) => ({
      [a.op]: refuseNext.has(i)
        ? { _index: a._index, status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [status]' } }
        : { _index: a._index, _id: `id${bulks.length}-${i}`, status: 201, result: 'created' },
    }));
    const errors = refuseNext.size > 0;
    refuseNext.clear();
    json(200, { took: 1, errors, items });
  });
  return {
    url: server.url, server, bulks, refuseNext,
    get versionChecks() { return versionChecks; },
    close: async () => {
      server.server.closeAllConnections();
      await new Promise((r) => server.server.close(r));
    },
  };
}
