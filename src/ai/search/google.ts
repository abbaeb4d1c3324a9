// Google's Custom Search JSON API (`GET /customsearch/v1?key=…&cx=…&q=…`), as Higress's
// google engine calls it: `num` = count (at most 10), `start` one-based, `lr=lang_<defaultLang>`.
import { asArray, parseJson, queryString, serviceOrigin, str, validResults, type EngineCommonConf, type SearchEngine } from './engine.js';

export interface GoogleConf extends EngineCommonConf {
  apiKey: string;
  cx: string;
  optionArgs?: Record<string, string>;
}

export function googleEngine(conf: GoogleConf): SearchEngine {
  const origin = serviceOrigin(conf);
  return {
    type: 'google',
    kind: 'internet',
    timeoutMs: conf.timeoutMillisecond,
    request({ queries, language }) {
      const params: [string, string | number][] = [['cx', conf.cx], ['q', queries.join(' ')], ['num', conf.count], ['key', conf.apiKey], ['start', conf.start + 1]];
      if (language !== '') params.push(['lr', `lang_${language}`]);
      return { method: 'GET', url: `${origin}/customsearch/v1?${queryString(params, conf.optionArgs)}`, headers: { accept: 'application/json' } };
    },
    parse(body) {
      return validResults(asArray(parseJson(body)?.items).map((item) => {
        const tags = asArray((item.pagemap as Record<string, unknown> | undefined)?.metatags)[0];
        const description = str(tags?.['og:description']);
        const snippet = str(item.snippet);
        return { title: str(item.title), link: str(item.link), content: description === '' ? snippet : `${snippet}\n...\n${description}` };
      }));
    },
  };
}
