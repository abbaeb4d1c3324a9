// A bounded subset of JSONPath (RFC 9535) for the fields an AI plugin inspects, e.g.
// `$.messages[*].content`: the root `$`, child names (`.name`, `['name']`, `["name"]`),
// array indexes (`[0]`, `[-1]`) and wildcards (`.*`, `[*]`). Descendants (`..`),
// filters (`[?…]`), slices, unions and scripts are refused with the field named: each
// step visits at most the children of the nodes before it, so the work is bounded by the
// document's size.

export type PathStep = { name: string } | { index: number } | { wildcard: true };

export interface JsonPathLite { text: string; steps: PathStep[] }

const NAME = /^[A-Za-z_$\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff-]*/;

export function parseJsonPathLite(text: string, field: string): JsonPathLite {
  const fail = (why: string): never => { throw new Error(`${field}: "${text}" ${why} (supported: $, .name, ['name'], [n], [*], .*)`); };
  if (!text.startsWith('$')) fail('does not start with $');
  const steps: PathStep[] = [];
  let i = 1;
  while (i < text.length) {
    const rest = text.slice(i);
    if (rest.startsWith('..')) fail('uses descendant search (..)');
    if (rest.startsWith('.*')) { steps.push({ wildcard: true }); i += 2; continue; }
    if (rest.startsWith('.')) {
      const name = NAME.exec(rest.slice(1));
      if (name === null) fail(`has no name after "." at ${i}`);
      steps.push({ name: name![0] });
      i += 1 + name![0].length;
      continue;
    }
    if (!rest.startsWith('[')) fail(`has "${rest[0]}" where . or [ belongs, at ${i}`);
    const close = rest.indexOf(']');
    if (close < 0) fail('has a [ without its ]');
    const inner = rest.slice(1, close).trim();
    const quoted = /^'([^'\\]*)'$|^"([^"\\]*)"$/.exec(inner);
    if (inner === '*') steps.push({ wildcard: true });
    else if (/^-?\d+$/.test(inner)) steps.push({ index: Number(inner) });
    else if (quoted !== null) steps.push({ name: quoted[1] ?? quoted[2]! });
    else fail(`uses a selector beyond names, indexes and * ("[${inner}]")`);
    i += close + 1;
  }
  return { text, steps };
}

type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null;
}

function keysOf(node: Container, step: PathStep): (string | number)[] {
  if ('wildcard' in step) return Array.isArray(node) ? node.map((_v, i) => i) : Object.keys(node);
  if ('index' in step) {
    if (!Array.isArray(node)) return [];
    const i = step.index < 0 ? node.length + step.index : step.index;
    return i >= 0 && i < node.length ? [i] : [];
  }
  return !Array.isArray(node) && Object.hasOwn(node, step.name) ? [step.name] : [];
}

/**
 * Calls `fn` with every string the path selects; a string `fn` returns replaces it in
 * the document. Stops at the first `fn` that returns false (nothing after it is visited).
 */
export function visitStrings(root: unknown, path: JsonPathLite, fn: (value: string) => string | false | undefined): boolean {
  let parents: { node: Container; key: string | number }[] = [];
  let nodes: unknown[] = [root];
  for (const step of path.steps) {
    parents = [];
    for (const node of nodes) {
      if (!isContainer(node)) continue;
      for (const key of keysOf(node, step)) parents.push({ node, key });
    }
    nodes = parents.map(({ node, key }) => (node as Record<string | number, unknown>)[key]);
  }
  if (path.steps.length === 0) return true; // `$` alone: the document is no string
  for (const { node, key } of parents) {
    const v = (node as Record<string | number, unknown>)[key];
    if (typeof v !== 'string') continue;
    const r = fn(v);
    if (r === false) return false;
    if (r !== undefined) (node as Record<string | number, unknown>)[key] = r;
  }
  return true;
}

/**
 * Calls `fn` with every string value of `root` (keys excepted), depth-first without
 * recursion (a deeply nested document cannot overflow the stack); a string `fn` returns
 * replaces it. Stops at the first `fn` that returns false.
 */
export function visitEveryString(root: unknown, fn: (value: string) => string | false | undefined): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (!isContainer(node)) continue;
    const holder = node as Record<string | number, unknown>;
    for (const key of Array.isArray(node) ? node.keys() : Object.keys(node)) {
      const v = holder[key];
      if (typeof v !== 'string') {
        stack.push(v);
        continue;
      }
      const r = fn(v);
      if (r === false) return false;
      if (r !== undefined) holder[key] = r;
    }
  }
  return true;
}
