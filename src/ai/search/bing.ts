// Bing Web Search API v7 (`GET /v7.0/search?q=…&count=…&offset=…`, key in
// `Ocp-Apim-Subscription-Key`), as Higress's bing engine calls it: web pages, their deep
// links and news are results; `mkt=<defaultLang>`.
import { asArray, parseJson, queryString, serviceOrigin, str, validResults, type EngineCommonConf, type SearchEngine, type SearchResult } from './engine.js';

export interface BingConf extends EngineCommonConf {
  apiKey: string;
  optionArgs?: Record<string, string>;
}

export function bingEngine(conf: BingConf): SearchEngine {
  const origin = serviceOrigin(conf);
  return {
    type: 'bing',
    kind: 'internet',
    timeoutMs: conf.timeoutMillisecond,
    request({ queries, language }) {
      const params: [string, string | number][] = [['q', queries.join(' ')], ['count', conf.count], ['offset', conf.start]];
      if (language !== '') params.push(['mkt', language]);
      return { method: 'GET', url: `${origin}/v7.0/search?${queryString(params, conf.optionArgs)}`, headers: { 'ocp-apim-subscription-key': conf.apiKey } };
    },
    parse(body) {
      const doc = parseJson(body);
      const out: SearchResult[] = [];
      for (const page of asArray((doc?.webPages as Record<string, unknown> | undefined)?.value)) {
        out.push({ title: str(page.name), link: str(page.url), content: str(page.snippet) });
        for (const deep of asArray(page.deepLinks)) out.push({ title: str(deep.name), link: str(deep.url), content: str(deep.snippet) });
      }
      for (const news of asArray((doc?.news as Record<string, unknown> | undefined)?.value)) {
        out.push({ title: str(news.name), link: str(news.url), content: str(news.description) });
      }
      return validResults(out);
    },
  };
}
