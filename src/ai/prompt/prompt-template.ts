// ai-prompt-template's templates: APISIX renders a template's JSON text with lua-resty-template,
// whose tags run Lua. Here a template is compiled once per config into its JSON structure
// with only two tags left in its strings, both naming a top-level field of the request body:
// `{{field}}` (HTML-escaped, as lua-resty-template escapes) and `{*field*}` (as is). The
// engine's other tags (code, includes, blocks, comments) and anything but a plain name are
// refused when the config is written. Rendering builds the body as JSON values, never as
// text, so a value cannot break out of its string, and its size is bounded before it is built.
import type { JsonObject } from '../protocol/json-body.js';

type Part = string | { field: string; escape: boolean };
type Node =
  | { kind: 'const'; value: unknown }
  | { kind: 'text'; parts: Part[] }
  | { kind: 'array'; items: Node[] }
  | { kind: 'object'; entries: [string, Node][] };

export interface CompiledTemplate {
  readonly root: Node;
  /** The body fields the template reads. */
  readonly fields: readonly string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Names lua-resty-template resolves to something other than the body's field: Lua keywords,
// the compiled template's own locals and environment, body-transformer's helpers.
const NOT_BODY_FIELDS = new Set([
  'and', 'break', 'do', 'else', 'elseif', 'end', 'false', 'for', 'function', 'goto', 'if', 'in', 'local',
  'nil', 'not', 'or', 'repeat', 'return', 'then', 'true', 'until', 'while',
  '___', 'blocks', 'layout', 'include', 'echo', 'context', 'template',
  '_ctx', '_body', '_escape_xml', '_escape_json', '_multipart',
]);

// lua-resty-template's tags other than {{ }} and {* *}: opener → closer and what it does there.
const REFUSED_TAGS: Record<string, [string, string]> = {
  '%': ['%}', 'Lua code'],
  '(': [')}', 'an include'],
  '[': [']}', 'an include'],
  '-': ['-}', 'a block'],
  '#': ['#}', 'a comment'],
};

function compileText(text: string, path: string, fields: Set<string>): Node {
  const parts: Part[] = [];
  let literalFrom = 0;
  let at = text.indexOf('{');
  while (at !== -1 && at < text.length - 1) {
    const kind = text[at + 1]!;
    const closer = kind === '{' ? '}}' : kind === '*' ? '*}' : REFUSED_TAGS[kind]?.[0];
    const end = closer === undefined ? -1 : text.indexOf(closer, at + 2);
    if (end === -1) {
      at = text.indexOf('{', at + 1);
      continue;
    }
    const tag = text.slice(at, end + 2);
    if (kind !== '{' && kind !== '*') {
      throw new Error(`${path}: ${JSON.stringify(tag)} is ${REFUSED_TAGS[kind]![1]} of APISIX's template engine; only {{field}} and {*field*} are supported`);
    }
    if (at > 0 && text[at - 1] === '\\') {
      throw new Error(`${path}: a backslash before ${JSON.stringify(tag)} (APISIX's engine would take it as an escape)`);
    }
    const name = text.slice(at + 2, end).trim();
    if (!NAME.test(name)) {
      throw new Error(`${path}: ${JSON.stringify(tag)} must name a top-level field of the request body (letters, digits, _)`);
    }
    if (NOT_BODY_FIELDS.has(name)) {
      throw new Error(`${path}: ${JSON.stringify(tag)} does not name a body field in APISIX's template engine (a Lua keyword or one of the engine's own names)`);
    }
    if (at > literalFrom) parts.push(text.slice(literalFrom, at));
    parts.push({ field: name, escape: kind === '{' });
    fields.add(name);
    literalFrom = end + 2;
    at = text.indexOf('{', literalFrom);
  }
  if (parts.length === 0) return { kind: 'const', value: text };
  if (literalFrom < text.length) parts.push(text.slice(literalFrom));
  return { kind: 'text', parts };
}

function compileNode(value: unknown, path: string, fields: Set<string>): Node {
  if (typeof value === 'string') return compileText(value, path, fields);
  if (Array.isArray(value)) return { kind: 'array', items: value.map((v, i) => compileNode(v, `${path}[${i}]`, fields)) };
  if (value !== null && typeof value === 'object') {
    return {
      kind: 'object',
      entries: Object.entries(value).map(([k, v]) => {
        if (compileText(k, `${path}.${k}`, new Set()).kind !== 'const') throw new Error(`${path}: the key ${JSON.stringify(k)} holds a template tag; only values may`);
        return [k, compileNode(v, `${path}.${k}`, fields)];
      }),
    };
  }
  return { kind: 'const', value };
}

/** Compiles a template object; throws naming `path` (e.g. `templates[0].template.messages[1].content`) and the bad tag. */
export function compileTemplate(template: JsonObject, path: string): CompiledTemplate {
  const fields = new Set<string>();
  const root = compileNode(template, path, fields);
  return { root, fields: [...fields] };
}

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;', '/': '&#47;' };

/** lua-resty-template's `escape`: the HTML entities it replaces, no others. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'/]/g, (c) => HTML_ENTITIES[c]!);
}

/** A number as Lua's tostring writes it (`%.14g`): 3 → "3", 0.1 → "0.1", 1e15 → "1e+15". */
export function luaNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const [mantissa, expText] = n.toExponential(13).split('e') as [string, string];
  const exp = Number(expText);
  const trim = (s: string): string => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  if (exp < -4 || exp >= 14) return `${trim(mantissa)}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return trim(n.toFixed(13 - exp));
}

export class TemplateRenderError extends Error {
  constructor(readonly status: 400 | 413, message: string) {
    super(message);
  }
}

/**
 * A body field as the template engine writes it: a string as is, a number as Lua prints it,
 * `true`; missing, null and `false` give "" (Lua's `false or nil`). An object or array has no
 * text form (APISIX writes `table: 0x…`), so it is refused.
 */
function fieldText(body: JsonObject, name: string): string {
  const v = Object.hasOwn(body, name) ? body[name] : undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return luaNumber(v);
  if (v === true) return 'true';
  if (v === undefined || v === null || v === false) return '';
  throw new TemplateRenderError(400, `template variable ${name} is ${Array.isArray(v) ? 'an array' : 'an object'}: only strings, numbers and booleans fill a template`);
}

/**
 * The template filled from `body`'s top-level fields, as a new JSON object. Throws a
 * TemplateRenderError (400 for a field that has no text form, 413 when the filled strings
 * would exceed `maxChars` characters) before building anything that large.
 */
export function renderTemplate(t: CompiledTemplate, body: JsonObject, maxChars: number): JsonObject {
  const texts = new Map<string, { raw: string; escaped: string }>();
  for (const name of t.fields) {
    const raw = fieldText(body, name);
    texts.set(name, { raw, escaped: escapeHtml(raw) });
  }
  let budget = maxChars;
  const render = (node: Node): unknown => {
    switch (node.kind) {
      case 'const': return node.value;
      case 'array': return node.items.map(render);
      case 'object': return Object.fromEntries(node.entries.map(([k, v]) => [k, render(v)]));
      case 'text': {
        const pieces = node.parts.map((p) => {
          if (typeof p === 'string') return p;
          const text = texts.get(p.field)!;
          return p.escape ? text.escaped : text.raw;
        });
        for (const piece of pieces) budget -= piece.length;
        if (budget < 0) throw new TemplateRenderError(413, `the rendered template is larger than ${maxChars} characters`);
        return pieces.join('');
      }
    }
  };
  return render(t.root) as JsonObject;
}
