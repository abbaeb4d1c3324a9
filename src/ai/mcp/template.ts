// The part of Go's text/template that Higress's REST-to-MCP templates use, and only that:
// `{{ .a.b }}` (a dotted path into the template's data: a string as is, other JSON values as
// their JSON text, a missing one as nothing), `{{ . }}` (the whole data as JSON) and
// `{{ toJson .a.b }}` (the value as JSON, a string quoted). Anything else inside `{{ }}`
// (pipelines, functions, `if`/`range`, trim markers `{{-`) is refused when the config is
// written, naming the field: a template half understood would send requests nobody wrote.

export type TemplatePart =
  | { text: string }
  | { path: readonly string[]; json: boolean };

export interface CompiledTemplate {
  readonly source: string;
  readonly parts: readonly TemplatePart[];
  /** The first keys the template reads (`args`, `config`, …), for a field that allows only some. */
  readonly roots: ReadonlySet<string>;
}

const KEY = '[A-Za-z_][A-Za-z0-9_-]*';
const PATH = new RegExp(`^(?:\\.|(?:\\.${KEY})+)$`);

function parsePath(text: string): string[] {
  return text === '.' ? [] : text.slice(1).split('.');
}

function parseAction(action: string, field: string): TemplatePart {
  const words = action.trim().split(/\s+/);
  if (words.length === 1 && PATH.test(words[0]!)) return { path: parsePath(words[0]!), json: false };
  if (words.length === 2 && words[0] === 'toJson' && PATH.test(words[1]!)) return { path: parsePath(words[1]!), json: true };
  throw new Error(`${field}: "{{${action}}}" is not supported (only {{ .path.to.value }}, {{ . }} and {{ toJson .path }})`);
}

/** Compiles `source`; `allowedRoots` (when given) are the only first keys a path may start with. */
export function compileTemplate(source: string, field: string, allowedRoots?: readonly string[]): CompiledTemplate {
  const parts: TemplatePart[] = [];
  const roots = new Set<string>();
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf('{{', at);
    if (open === -1) break;
    const close = source.indexOf('}}', open + 2);
    if (close === -1) throw new Error(`${field}: "{{" at character ${open} is never closed`);
    if (open > at) parts.push({ text: source.slice(at, open) });
    const action = source.slice(open + 2, close);
    if (action.startsWith('-') || action.endsWith('-')) throw new Error(`${field}: trim markers ({{- -}}) are not supported`);
    const part = parseAction(action, field);
    if ('path' in part) {
      const root = part.path[0];
      if (allowedRoots !== undefined && (root === undefined || !allowedRoots.includes(root))) {
        throw new Error(`${field}: "{{${action}}}" must start with ${allowedRoots.map((r) => `.${r}`).join(' or ')}`);
      }
      if (root !== undefined) roots.add(root);
    }
    parts.push(part);
    at = close + 2;
  }
  if (at < source.length) parts.push({ text: source.slice(at) });
  if (parts.some((p) => 'text' in p && p.text.includes('}}'))) throw new Error(`${field}: "}}" without a matching "{{"`);
  return { source, parts, roots };
}

export function lookupPath(data: unknown, path: readonly string[]): unknown {
  let node = data;
  for (const key of path) {
    if (Array.isArray(node) && /^\d+$/.test(key)) node = node[Number(key)];
    else if (node !== null && typeof node === 'object' && !Array.isArray(node) && Object.hasOwn(node, key)) node = (node as Record<string, unknown>)[key];
    else return undefined;
  }
  return node;
}

/** A value as text: a string as is, nothing as '', other JSON as its JSON text. */
export function valueText(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Renders `t` over `data`; `escape` (a URL's) applies to the values inserted, not the template's own text. */
export function renderTemplate(t: CompiledTemplate, data: unknown, escape: (value: string, root: string | undefined) => string = (v) => v): string {
  let out = '';
  for (const part of t.parts) {
    if ('text' in part) {
      out += part.text;
      continue;
    }
    const value = lookupPath(data, part.path);
    const text = part.json ? JSON.stringify(value ?? null) : valueText(value);
    out += escape(text, part.path[0]);
  }
  return out;
}
