// The GJSON paths Higress's AI plugins default to and document: keys joined by `.` (a
// `\.` inside a key), a number selecting an array element, and the `@reverse` modifier
// (`messages.@reverse.0.content`: the last message's content). Other GJSON syntax
// (wildcards, queries, other modifiers) is refused, naming the field.

export type GjsonStep = { key: string } | { reverse: true };

export interface GjsonPath { text: string; steps: GjsonStep[] }

const UNSUPPORTED = /[*?#@|!{}[\]]/;

export function parseGjsonPath(text: string, field: string): GjsonPath {
  const keys: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) current += `\\${text[++i]}`;
    else if (c === '.') { keys.push(current); current = ''; }
    else current += c;
  }
  keys.push(current);
  const steps = keys.map((k): GjsonStep => {
    if (k === '@reverse') return { reverse: true };
    if (k === '') throw new Error(`${field}: "${text}" has an empty key`);
    const plain = k.replace(/\\(.)/g, '');
    const bad = UNSUPPORTED.exec(plain);
    if (bad !== null) throw new Error(`${field}: "${text}" uses GJSON syntax beyond dotted keys, array indexes and @reverse ("${bad[0]}")`);
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
