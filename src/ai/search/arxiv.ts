// arXiv's API (`GET /api/query?search_query=…&max_results=…&start=…`, an Atom feed), as
// Higress's arxiv engine calls it: `all:<query>` terms joined by AND, `cat:<arxivCategory>`
// when configured; an entry's content is its summary, authors and publication time.
import { XMLParser } from 'fast-xml-parser';
import { serviceOrigin, validResults, type EngineCommonConf, type SearchEngine } from './engine.js';

export interface ArxivConf extends EngineCommonConf {
  arxivCategory?: string;
  optionArgs?: Record<string, string>;
}

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['entry', 'link', 'author'].includes(name), processEntities: true });

type Node = Record<string, unknown>;
const list = (v: unknown): Node[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is Node => x !== null && typeof x === 'object');
const text = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v).trim() : typeof v === 'object' && v !== null ? text((v as Node)['#text']) : '');

export function arxivEngine(conf: ArxivConf): SearchEngine {
  const origin = serviceOrigin(conf);
  return {
    type: 'arxiv',
    kind: 'arxiv',
    timeoutMs: conf.timeoutMillisecond,
    request({ queries, arxivCategory }) {
      let search = queries.map((q) => `all:${encodeURIComponent(q)}`).join('+AND+');
      const category = arxivCategory ?? conf.arxivCategory ?? '';
      if (category !== '') search += `+AND+cat:${encodeURIComponent(category)}`;
      let url = `${origin}/api/query?search_query=${search}&max_results=${conf.count}&start=${conf.start}`;
      for (const [k, v] of Object.entries(conf.optionArgs ?? {})) if (v !== '') url += `&${encodeURIComponent(k)}=${encodeURIComponent(v)}`;
      return { method: 'GET', url, headers: { accept: 'application/atom+xml' } };
    },
    parse(body) {
      let doc: Node;
      try { doc = xml.parse(body.toString('utf8')) as Node; } catch { return []; }
      return validResults(list((doc.feed as Node | undefined)?.entry).map((entry) => {
        const link = list(entry.link).find((l) => l.rel === 'alternate' && l.type === 'text/html');
        const authors = list(entry.author).map((a) => text(a.name)).join(', ');
        return {
          title: text(entry.title),
          link: typeof link?.href === 'string' ? link.href : '',
          content: `${text(entry.summary)}\nAuthors: ${authors}\nPublication time: ${text(entry.published)}`,
        };
      }));
    },
  };
}
