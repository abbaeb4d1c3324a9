// The GJSON paths Higress's AI plugins default to and document: keys joined by `.` (a
// `\.` inside a key), a number selecting an array element, and the `@reverse` modifier
// (`messages.@reverse.0.content`: the last message's content). The one parser of dotted
// paths here: content checks (content-path.ts) also take `#`, every element of an array.
// Other GJSON syntax (queries, other modifiers, wildcards) is refused, naming the field.

export type GjsonStep = { key: string } | { reverse: true } | { each: true };

export interface GjsonPath { text: string; steps: GjsonStep[] }

export interface GjsonSyntax {
  /** `#` alone as a key selects every element of an array (a content check's path). */
  each?: boolean;
}

const UNSUPPORTED = /[*?#@|!{}[\]]/;

export function parseGjsonPath(text: string, field: string, syntax: GjsonSyntax = {}): GjsonPath {
  const keys: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) current += `\\${text[++i]}`;
    else if (c === '.') { keys.push(current); current = ''; }
    else current += c;
  }
  keys.push(current);
  const beyond = syntax.each === true ? 'dotted keys, array indexes, # and @reverse' : 'dotted keys, array indexes and @reverse';
  const steps = keys.map((k): GjsonStep => {
    if (k === '@reverse') return { reverse: true };
    if (k === '#' && syntax.each === true) return { each: true };
    if (k === '') throw new Error(`${field}: "${text}" has an empty key`);
    const plain = k.replace(/\\(.)/g, '');
    const bad = UNSUPPORTED.exec(plain);
    if (bad !== null) throw new Error(`${field}: "${text}" uses GJSON syntax beyond ${beyond} ("${bad[0]}")`);
    return { key: k.replace(/\\(.)/g, '$1') };
  });
  return { text, steps };
}

export function gjsonGet(root: unknown, path: GjsonPath): unknown {
  let node = root;
  for (const step of path.steps) {
    if ('reverse' in step) {
      if (Array.isArray(node)) node = [...node].reverse();
      continue;
    }
    if ('each' in step) return undefined; // only content checks take `#`, through content-path.ts
    if (Array.isArray(node)) node = /^\d+$/.test(step.key) ? node[Number(step.key)] : undefined;
    else if (typeof node === 'object' && node !== null) node = Object.hasOwn(node, step.key) ? (node as Record<string, unknown>)[step.key] : undefined;
    else return undefined;
  }
  return node;
}

/** GJSON's `.String()`: a string as is, other JSON values as their JSON text, nothing as ''. */
export function gjsonString(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
