import { setTimeout as sleep } from 'node:timers/promises';
import { definePlugin } from '../plugin-runtime/define-plugin.js';
import type { PhaseResult } from '../contracts/plugin.js';
import { VERSION } from '../core/version.js';
import { compileVarTemplate, type VarTemplate } from './common/var-template.js';
import { HEADER_TEXT_SCHEMA, headerMapSchema, headerValueText } from './common/headers.js';

// Answers without an upstream (apisix/plugins/mocking.lua), in access: `response_example`
// as given, or a value generated from `response_schema` (JSON, or XML under a `<data>`
// root for the xml content types) — strings of random letters, numbers, integers,
// booleans, 1–3 array items, a property's `example` when it has one. `$vars` in the body
// and in `response_headers` are resolved, as APISIX does. `delay` is in seconds.
// `x-mock-by: Gatehouse/<version>` marks the answer unless `with_mock_header` is false.

const SUPPORTED_TYPES = new Set(['application/xml', 'application/json', 'text/plain', 'text/html', 'text/xml']);
const MOCK_BY = `Gatehouse/${VERSION}`;

export interface MockingConf {
  delay: number;
  response_status: number;
  content_type: string;
  response_example?: string;
  response_schema?: Record<string, unknown>;
  with_mock_header: boolean;
  response_headers?: Record<string, string | number>;
}

export interface MockingPrepared {
  delayMs: number;
  status: number;
  contentType: string;
  example: VarTemplate | undefined;
  schema: Record<string, unknown> | undefined;
  format: 'json' | 'xml';
  mockHeader: boolean;
  headers: [string, VarTemplate][];
  /** 204 and 304 answers carry no body (as nginx sends them), whatever the example says. */
  bodyless: boolean;
}

/** The media type of a Content-Type value (what precedes `;`). */
function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

function genString(example: unknown): string {
  if (typeof example === 'string') return example;
  let s = '';
  for (let i = randomInt(1, 10); i > 0; i--) s += String.fromCharCode(randomInt(97, 122));
  return s;
}

/** Generates a value for one JSON-schema property (APISIX `gen_by_property`). */
export function generate(property: Record<string, unknown>): unknown {
  const type = typeof property.type === 'string' ? property.type.toLowerCase() : undefined;
  const example = property.example;
  switch (type) {
    case 'object': return generateObject(property);
    case 'array': {
      const items = property.items;
      if (items === undefined || items === null || typeof items !== 'object' || Array.isArray(items)) return undefined;
      const out: unknown[] = [];
      for (let i = randomInt(1, 3); i > 0; i--) out.push(generate(items as Record<string, unknown>));
      return out;
    }
    case 'string': return genString(example);
    case 'number': return typeof example === 'number' ? example : Math.random() * 10000;
    case 'integer': return typeof example === 'number' ? Math.floor(example) : randomInt(1, 10000);
    case 'boolean': return typeof example === 'boolean' ? example : Math.random() < 0.5;
    default: return undefined;
  }
}

export function generateObject(schema: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const props = schema.properties;
  if (props === null || typeof props !== 'object') return out;
  for (const [k, v] of Object.entries(props as Record<string, unknown>)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const value = generate(v as Record<string, unknown>);
      if (value !== undefined) out[k] = value;
    }
  }
  return out;
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A generated value as XML: object keys are elements, array items repeat their element. */
export function toXml(value: unknown, tag: string): string {
  if (Array.isArray(value)) return value.map((v) => toXml(v, tag)).join('');
  if (value !== null && typeof value === 'object') {
    let inner = '';
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) inner += toXml(v, k);
    return `<${tag}>${inner}</${tag}>`;
  }
  return `<${tag}>${escapeXml(String(value))}</${tag}>`;
}

export default definePlugin<MockingConf, MockingPrepared>({
  name: 'mocking',
  description: 'Returns mock responses without forwarding the request to the upstream.',
  version: 0.1,
  stage: 'authorization',
  priority: 965,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      // APISIX has no minimum; a negative delay would be a setting without effect.
      delay: { type: 'integer', minimum: 0, default: 0 },
      // APISIX's minimum is 100, but a 1xx is an interim status, never a whole answer (the
      // client would be left waiting for the real one); above 599 is no HTTP status.
      response_status: { type: 'integer', default: 200, minimum: 200, maximum: 599 },
      content_type: { ...HEADER_TEXT_SCHEMA, default: 'application/json;charset=utf8' },
      response_example: { type: 'string' },
      response_schema: { type: 'object' },
      with_mock_header: { type: 'boolean', default: true },
      response_headers: headerMapSchema(),
    },
    anyOf: [
      { required: ['response_example'] },
      { required: ['response_schema'] },
    ],
  },

  prepare(conf) {
    const contentType = conf.content_type ?? 'application/json;charset=utf8';
    const type = mediaType(contentType);
    if (!SUPPORTED_TYPES.has(type)) throw new Error('unsupported content type!');
    if (conf.response_example === undefined && type === 'text/html') {
      throw new Error('response_schema only supports the json and xml content types, not text/html');
    }
    return {
      delayMs: (conf.delay ?? 0) * 1000,
      status: conf.response_status ?? 200,
      bodyless: conf.response_status === 204 || conf.response_status === 304,
      contentType,
      example: conf.response_example !== undefined ? compileVarTemplate(conf.response_example) : undefined,
      schema: conf.response_schema,
      format: type === 'application/xml' || type === 'text/xml' ? 'xml' : 'json',
      mockHeader: conf.with_mock_header !== false,
      headers: Object.entries(conf.response_headers ?? {}).map(([k, v]) => [k, compileVarTemplate(headerValueText(v))]),
    };
  },

  access(p, ctx) {
    const lookup = (n: string): unknown => ctx.var(n);
    let body: string;
    if (p.bodyless) {
      body = '';
    } else if (p.example !== undefined) {
      body = p.example.render(lookup);
    } else {
      const value = generateObject(p.schema!);
      body = p.format === 'xml' ? toXml(value, 'data') : JSON.stringify(value);
      if (body.includes('$')) body = compileVarTemplate(body).render(lookup);
    }
    const headers: Record<string, string> = { 'Content-Type': p.contentType };
    if (p.mockHeader) headers['x-mock-by'] = MOCK_BY;
    for (const [name, t] of p.headers) headers[name] = t.render(lookup);
    const result: PhaseResult = { status: p.status, body, headers };
    if (p.delayMs > 0) return sleep(p.delayMs).then(() => result);
    return result;
  },
});
