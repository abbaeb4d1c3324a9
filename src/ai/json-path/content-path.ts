// Where a content check finds its text in a JSON document. Higress's fields take gjson
// paths (`messages.@reverse.0.content`, `choices.0.delta.content`); the AI plugins here
// speak a JSONPath subset (json-path-lite.ts). Both are accepted: a path starting with `$`
// is JSONPath, any other a dotted gjson path (gjson-path.ts's parser) of names, indexes,
// `#` (every element) and `@reverse.N` (the N-th from the end), read as the JSONPath steps
// it stands for. Other gjson features (queries, modifiers) are refused with the field named.
import { parseGjsonPath } from './gjson-path.js';
import { parseJsonPathLite, visitStrings, type JsonPathLite, type PathStep } from './json-path-lite.js';

export function parseContentPath(text: string, field: string): JsonPathLite {
  if (text.startsWith('$')) return parseJsonPathLite(text, field);
  const gjson = parseGjsonPath(text, field, { each: true }).steps;
  const steps: PathStep[] = [];
  for (let i = 0; i < gjson.length; i++) {
    const step = gjson[i]!;
    if ('reverse' in step) {
      const next = gjson[i + 1];
      if (next === undefined || !('key' in next) || !/^\d+$/.test(next.key)) throw new Error(`${field}: "${text}" needs an index after @reverse`);
      steps.push({ index: -1 - Number(next.key) });
      i++;
    } else if ('each' in step) {
      steps.push({ wildcard: true });
    } else {
      steps.push(/^\d+$/.test(step.key) ? { index: Number(step.key) } : { name: step.key });
    }
  }
  return { text, steps };
}

/** The strings `path` selects in `doc`, joined with newlines ('' when none). */
export function textAt(doc: unknown, path: JsonPathLite): string {
  const found: string[] = [];
  visitStrings(doc, path, (s) => { found.push(s); return undefined; });
  return found.join('\n');
}

/** Characters of the text before a window that its check repeats, so a flagged phrase split at the edge is still seen whole. */
export function overlapFor(size: number): number {
  return Math.min(64, Math.floor(size / 2));
}

/**
 * `text` cut into pieces of at most `size` UTF-16 units (never inside a surrogate pair),
 * each after the first starting with the last `overlapFor(size)` units of the one before.
 */
export function windows(text: string, size: number): string[] {
  const out: string[] = [];
  const overlap = overlapFor(size);
  let start = 0;
  while (start < text.length) {
    let end = Math.min(start + size, text.length);
    if (end < text.length && end - start > 1 && (text.charCodeAt(end - 1) & 0xfc00) === 0xd800) end--;
    let from = start === 0 ? 0 : Math.max(0, start - overlap);
    if (from > 0 && (text.charCodeAt(from) & 0xfc00) === 0xdc00) from--;
    out.push(text.slice(from, end));
    start = end;
  }
  return out;
}
