// The subset of GJSON paths Higress's transformer documents: keys joined by `.`, a `\.`
// inside a key, and a number selecting an array element (`friends.1.first`). GJSON's
// wildcards, queries, modifiers and multipaths are refused, naming the field.

export interface JsonPath { segments: string[]; text: string }

const UNSUPPORTED = /[*?#@|!{}[\]]/;

export function parseJsonPath(text: string, field: string): JsonPath {
  const segments: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
    } else if (c === '.') {
      segments.push(current);
      current = '';
    } else if (UNSUPPORTED.test(c)) {
      throw new Error(`${field}: "${text}" uses GJSON syntax beyond dotted keys and array indexes ("${c}")`);
    } else {
      current += c;
    }
  }
  segments.push(current);
  if (segments.some((s) => s.length === 0)) throw new Error(`${field}: "${text}" has an empty key`);
  return { segments, text };
}

type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null;
}

function child(node: Container, key: string): unknown {
  if (Array.isArray(node)) return /^\d+$/.test(key) ? node[Number(key)] : undefined;
  return Object.hasOwn(node, key) ? node[key] : undefined;
}

export function getPath(root: unknown, path: JsonPath): unknown {
  let node = root;
  for (const key of path.segments) {
    if (!isContainer(node)) return undefined;
    node = child(node, key);
  }
  return node;
}

/** Sets the value at `path`, creating objects for missing keys; false when the path crosses a scalar. */
export function setPath(root: unknown, path: JsonPath, value: unknown): boolean {
  let node = root;
  const last = path.segments.length - 1;
  for (let i = 0; i < last; i++) {
    if (!isContainer(node)) return false;
    const key = path.segments[i]!;
    let next = child(node, key);
    if (next === undefined) {
      if (Array.isArray(node) && !/^\d+$/.test(key)) return false;
      next = {};
      (node as Record<string, unknown>)[key] = next;
    }
    node = next;
  }
  if (!isContainer(node)) return false;
  const key = path.segments[last]!;
  if (Array.isArray(node) && !/^\d+$/.test(key)) return false;
  (node as Record<string, unknown>)[key] = value;
  return true;
}

export function deletePath(root: unknown, path: JsonPath): void {
  const parent = getPath(root, { segments: path.segments.slice(0, -1), text: '' });
  if (!isContainer(parent)) return;
  const key = path.segments[path.segments.length - 1]!;
  if (Array.isArray(parent)) {
    if (/^\d+$/.test(key) && Number(key) < parent.length) parent.splice(Number(key), 1);
  } else {
    delete parent[key];
  }
}
