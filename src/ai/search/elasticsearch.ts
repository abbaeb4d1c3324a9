// Elasticsearch's `_search` API, as Higress's elasticsearch engine queries it: a hybrid
// search, reciprocal rank fusion (`retriever.rrf`) of a full-text `match` on `contentField`
// and a `semantic` query on `semanticTextField` (a `semantic_text` field, whose inference
// endpoint embeds the query inside Elasticsearch). `from`/`size` are `start`/`count`;
// `username`/`password` are sent as basic auth.
import { asArray, parseJson, serviceOrigin, str, validResults, type EngineCommonConf, type SearchEngine } from './engine.js';

export interface ElasticsearchConf extends EngineCommonConf {
  index: string;
  contentField: string;
  semanticTextField: string;
  linkField: string;
  titleField: string;
  username?: string;
  password?: string;
}

export function elasticsearchEngine(conf: ElasticsearchConf): SearchEngine {
  const url = `${serviceOrigin(conf)}/${encodeURIComponent(conf.index)}/_search?from=${conf.start}&size=${conf.count}`;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (conf.username !== undefined) headers.authorization = `Basic ${Buffer.from(`${conf.username}:${conf.password ?? ''}`).toString('base64')}`;
  return {
    type: 'elasticsearch',
    kind: 'private',
    timeoutMs: conf.timeoutMillisecond,
    request({ queries }) {
      const text = queries.join(' ');
      const body = {
        retriever: { rrf: { retrievers: [
          { standard: { query: { match: { [conf.contentField]: text } } } },
          { standard: { query: { semantic: { field: conf.semanticTextField, query: text } } } },
        ] } },
      };
      return { method: 'POST', url, headers, body: JSON.stringify(body) };
    },
    parse(body) {
      const hits = asArray((parseJson(body)?.hits as Record<string, unknown> | undefined)?.hits);
      return validResults(hits.map((hit) => {
        const source = (hit._source ?? {}) as Record<string, unknown>;
        return { title: str(source[conf.titleField]), link: str(source[conf.linkField]), content: str(source[conf.contentField]) };
      }));
    },
  };
}
