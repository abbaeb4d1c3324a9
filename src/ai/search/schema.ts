// ai-network-search's `searchFrom` entries, one schema per engine `type` (Higress's fields;
// a field of another engine is refused, not ignored), and its default prompts.

const COMMON = {
  serviceName: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:_-]+$', not: { pattern: '\\.(dns|static)$' } },
  servicePort: { type: 'integer', minimum: 1, maximum: 65535 },
  count: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
  start: { type: 'integer', minimum: 0, maximum: 10000, default: 0 },
  timeoutMillisecond: { type: 'integer', minimum: 1, maximum: 600_000, default: 5000 },
} as const;

const OPTION_ARGS = { type: 'object', maxProperties: 64, additionalProperties: { type: 'string', maxLength: 1024 } } as const;
const API_KEY = { type: 'string', minLength: 1, maxLength: 4096, encrypted: true } as const;
const FIELD = { type: 'string', minLength: 1, maxLength: 256 } as const;

function engine(type: string, properties: Record<string, unknown>, required: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    if: { properties: { type: { const: type } } },
    then: {
      additionalProperties: false,
      properties: { type: { const: type }, ...COMMON, ...properties },
      required: ['type', 'serviceName', 'servicePort', ...required],
      ...extra,
    },
  };
}

export const ENGINE_SCHEMAS = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', enum: ['google', 'bing', 'elasticsearch', 'arxiv'] } },
  allOf: [
    // Google answers at most 10 per page and 100 in all (start + count)
    engine('google', { apiKey: API_KEY, cx: FIELD, optionArgs: OPTION_ARGS, count: { ...COMMON.count, maximum: 10 }, start: { ...COMMON.start, maximum: 99 } },
      ['apiKey', 'cx']),
    engine('bing', { apiKey: API_KEY, optionArgs: OPTION_ARGS }, ['apiKey']),
    engine('elasticsearch', {
      index: FIELD, contentField: FIELD, semanticTextField: FIELD, linkField: FIELD, titleField: FIELD,
      username: { type: 'string', minLength: 1, maxLength: 256 }, password: { type: 'string', maxLength: 4096, encrypted: true },
    }, ['index', 'contentField', 'semanticTextField', 'linkField', 'titleField']),
    engine('arxiv', { arxivCategory: { type: 'string', maxLength: 64, pattern: '^[A-Za-z0-9.-]*$' }, optionArgs: OPTION_ARGS }, []),
  ],
} as const;

export const SEARCH_REWRITE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    llmServiceName: COMMON.serviceName,
    llmServicePort: COMMON.servicePort,
    llmUrl: { type: 'string', pattern: '^/', maxLength: 2048 },
    llmModelName: FIELD,
    llmApiKey: API_KEY,
    timeoutMillisecond: { ...COMMON.timeoutMillisecond, default: 30_000 },
    maxCount: { type: 'integer', minimum: 1, maximum: 10, default: 3 },
  },
  required: ['llmServiceName', 'llmServicePort', 'llmUrl', 'llmModelName'],
} as const;

const RULES = `- Not every result is relevant to the question: judge and select.
- For list questions, keep to about 10 items and prefer the most complete and relevant ones.
- For long answers, structure them in paragraphs or at most 5 points.
- Answer in the language of the user's question unless asked otherwise.`;

/** Higress's default prompts (Chinese there), in English. */
export const DEFAULT_PROMPT = `# The following are search results for the user's message:
{search_results}
Each result is framed as [webpage begin]...[webpage end].
When answering:
- Today is {cur_date}.
${RULES}
- Combine several pages in your answer, but do not cite sources in it.

# The user's message:
{question}`;

export const DEFAULT_PROMPT_WITH_REFERENCES = `# The following are search results for the user's message:
{search_results}
Each result is framed as [webpage X begin]...[webpage X end], X being its number. Cite results at the end of the
sentences that use them, as [X] (several as [3][5]), in the part of the answer they support, not all at the end.
When answering:
- Today is {cur_date}.
${RULES}
- Combine several pages in your answer; do not cite one page repeatedly.

# The user's message:
{question}`;
