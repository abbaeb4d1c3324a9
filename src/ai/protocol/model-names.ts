// How Higress's model plugins (model-router, model-mapper) choose the requests they touch
// and match model names: a request path ending in one of a list of suffixes, and model
// patterns that are an exact name, a `prefix*` or `*` for any.

/** The OpenAI-style endpoints whose body names a model (Higress's default `enableOnPathSuffix`). */
export const MODEL_PATH_SUFFIXES: readonly string[] = [
  '/completions', '/embeddings', '/images/generations', '/audio/speech', '/fine_tuning/jobs',
  '/moderations', '/image-synthesis', '/video-synthesis', '/rerank', '/messages', '/responses',
];

/** Whether a request path (no query) ends in one of `suffixes`; a `*` suffix takes every path. */
export function pathSuffixMatcher(suffixes: readonly string[]): (path: string) => boolean {
  if (suffixes.includes('*')) return () => true;
  const list = [...suffixes];
  return (path) => list.some((s) => path.endsWith(s));
}

/** A model pattern: `*` matches every name (the empty one too), `prefix*` names starting with prefix, else the name itself. */
export function modelPattern(pattern: string): (model: string) => boolean {
  if (pattern === '*') return () => true;
  if (pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return (model) => model.startsWith(prefix);
  }
  return (model) => model === pattern;
}

/**
 * Higress's model-mapper table, compiled: the exact key wins, then the first `prefix*`
 * key in alphabetical order of the keys, `*` included (Higress sorts them, as its C++
 * original's JSON map did: `gpt-*` comes before `gpt-4-*` and takes `gpt-4-turbo`), then `*`. Returns the new name, or '' to keep the old one (an empty target keeps it too).
 */
export function compileModelMapping(mapping: Record<string, string>): (model: string) => string {
  const exact = new Map<string, string>();
  const prefixes: { prefix: string; target: string }[] = [];
  let fallback = '';
  // byte order of the UTF-8 keys, as Go's sort.Slice on strings
  const keys = Object.keys(mapping).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const key of keys) {
    const target = mapping[key]!;
    if (key === '*') fallback = target;
    else if (key.endsWith('*')) prefixes.push({ prefix: key.slice(0, -1), target });
    else exact.set(key, target);
  }
  return (model) => {
    const hit = exact.get(model);
    if (hit !== undefined) return hit;
    for (const p of prefixes) if (model.startsWith(p.prefix)) return p.target;
    return fallback;
  };
}

/**
 * Whether `value` can travel as a header value unchanged: printable ASCII and tabs. A model
 * name comes from the client's body; one with other characters is not copied to a header.
 */
export function isPlainHeaderValue(value: string): boolean {
  return /^[\t\x20-\x7e]*$/.test(value);
}
