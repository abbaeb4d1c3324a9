// Higress ai-search's searchRewrite: a model turns the user's message into search queries,
// one a line, `internet: <question>` for the web engines, `private: <keywords,…>` for the
// knowledge base (Elasticsearch), `<arXiv category>: <keywords,…>` for arXiv, or `none`
// when nothing needs searching. Higress's prompts are Chinese; this one says the same in
// English, naming only the kinds of sources configured.
import { serviceOrigin, type SourceKind } from './engine.js';
import type { ServiceRequest } from '../outbound/service-call.js';

export interface SearchRewriteConf {
  llmServiceName: string;
  llmServicePort: number;
  llmUrl: string;
  llmModelName: string;
  llmApiKey?: string;
  timeoutMillisecond: number;
  maxCount: number;
}

/** One rewritten query: which sources it is for, its terms, and an arXiv category. */
export interface RewrittenQuery {
  kind: SourceKind;
  queries: string[];
  arxivCategory?: string;
}

const SOURCE_LINES: Record<SourceKind, string> = {
  internet: '- For a web search engine (Google/Bing): one line "internet: <the question in one sentence, optimised for a search engine>".',
  private: '- For the private knowledge base: one line "private: <keywords>", at most 3 keywords, separated by ",".',
  arxiv: '- For arXiv papers: one line "<arXiv category, e.g. cs.AI>: <keywords in English>", at most 3 keywords, separated by ",".',
};

/** The prompt asking for at most `maxCount` queries about `question`, for the `kinds` configured. */
export function rewritePrompt(kinds: ReadonlySet<SourceKind>, maxCount: number, question: string): string {
  const lines = (['internet', 'private', 'arxiv'] as const).filter((k) => kinds.has(k)).map((k) => SOURCE_LINES[k]);
  return `# Goal
Decide whether answering the user's message needs a search, and answer with the queries to run, nothing else.
If it does not (the message is not a question or a request for help, or asks for a translation), answer exactly: none
Otherwise answer one query per line, at most ${maxCount} lines, no reasoning:
${lines.join('\n')}
Use the language of the user's message unless it asks for another.

# The user's message:
${question}`;
}

/** The chat request to the rewriting model (Higress's: not streamed, max_tokens 4096). */
export function rewriteRequest(conf: SearchRewriteConf, prompt: string): ServiceRequest {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (conf.llmApiKey !== undefined) headers.authorization = `Bearer ${conf.llmApiKey}`;
  return {
    method: 'POST',
    url: serviceOrigin({ serviceName: conf.llmServiceName, servicePort: conf.llmServicePort }) + conf.llmUrl,
    headers,
    body: JSON.stringify({ stream: false, max_tokens: 4096, model: conf.llmModelName, messages: [{ role: 'user', content: prompt }] }),
  };
}

/**
 * The queries in the model's answer (at most `maxCount`); an empty list when it said `none`
 * or gave no line of the expected shape. As Higress, an arXiv query is also run without
 * its category, for recall.
 */
export function parseRewrite(content: string, maxCount: number): RewrittenQuery[] {
  const lines = content.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0 || lines.some((l) => l.toLowerCase() === 'none')) return [];
  const out: RewrittenQuery[] = [];
  let taken = 0;
  for (const line of lines) {
    if (taken >= maxCount) break;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const head = line.slice(0, colon).trim();
    const rest = line.slice(colon + 1).trim();
    if (rest === '') continue;
    const terms = rest.split(',').map((t) => t.trim()).filter((t) => t !== '');
    if (head === 'internet') out.push({ kind: 'internet', queries: [rest] });
    else if (head === 'private') out.push({ kind: 'private', queries: terms });
    else if (/^[A-Za-z-]+(\.[A-Za-z-]+)?$/.test(head)) out.push({ kind: 'arxiv', queries: terms, arxivCategory: head }, { kind: 'arxiv', queries: terms, arxivCategory: '' });
    else continue;
    taken++;
  }
  return out;
}

/** Higress's `web_search_options.search_context_size`: how many queries the model may give. */
export function maxCountFor(webSearchOptions: unknown, configured: number): number {
  const size = (webSearchOptions as Record<string, unknown> | null | undefined)?.search_context_size;
  return size === 'low' ? 1 : size === 'medium' ? 3 : size === 'high' ? 5 : configured;
}
