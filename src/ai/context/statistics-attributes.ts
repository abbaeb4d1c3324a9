// Higress ai-statistics' `attributes`: extra values taken from the request or the answer
// (a fixed value, a header, a GJSON path into the JSON body or into each streamed event)
// and written to the access log. Values are cut to `value_length_limit` as they are
// gathered, so an `append` over a long stream stays bounded.
import type { PluginContext } from '../../contracts/plugin.js';
import { gjsonGet, gjsonString, parseGjsonPath, type GjsonPath } from '../json-path/gjson-path.js';
import { lastUserMessage } from '../protocol/last-user-message.js';
import type { AiContext } from './context.js';
import type { JsonObject } from '../protocol/json-body.js';

export const VALUE_SOURCES = ['fixed_value', 'request_header', 'request_body', 'response_header', 'response_body',
  'response_streaming_body'] as const;
export type ValueSource = typeof VALUE_SOURCES[number];
export const STREAM_RULES = ['first', 'replace', 'append'] as const;
export type StreamRule = typeof STREAM_RULES[number];

export interface AttributeConf {
  key: string;
  value_source?: ValueSource;
  value?: string;
  default_value?: string;
  rule?: StreamRule;
  apply_to_log?: boolean;
  apply_to_span?: boolean;
}

/** Keys Higress fills without a value_source, the ones built here: the last user question and the answer's text. */
const BUILT_IN_KEYS = ['question', 'answer'] as const;

export type Attribute =
  | { key: string; source: 'fixed_value'; value: string }
  | { key: string; source: 'request_header' | 'response_header'; header: string; fallback: string | undefined }
  | { key: string; source: 'request_body' | 'response_body'; path: GjsonPath; fallback: string | undefined }
  | { key: string; source: 'response_streaming_body'; path: GjsonPath; rule: StreamRule; fallback: string | undefined }
  | { key: string; source: 'question' | 'answer' };

export const ATTRIBUTE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    key: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' },
    value_source: { type: 'string', enum: VALUE_SOURCES },
    value: { type: 'string', maxLength: 4096 },
    default_value: { type: 'string', maxLength: 4096 },
    rule: { type: 'string', enum: STREAM_RULES },
    apply_to_log: { type: 'boolean', default: false },
    apply_to_span: { type: 'boolean', default: false },
  },
  required: ['key'],
} as const;

/** The attributes to log (those with apply_to_log), checked; throws naming `attributes[i].<field>`. */
export function compileAttributes(list: readonly AttributeConf[]): Attribute[] {
  const out: Attribute[] = [];
  list.forEach((a, i) => {
    const field = `attributes[${i}]`;
    // no tracer runs in the gateway: a span attribute would be silently lost
    if (a.apply_to_span === true) throw new Error(`${field}.apply_to_span: tracing is not supported; use apply_to_log`);
    if (a.rule !== undefined && a.value_source !== 'response_streaming_body') {
      throw new Error(`${field}.rule: only applies to value_source response_streaming_body`);
    }
    const attribute = compileOne(a, field);
    if (a.apply_to_log === true) out.push(attribute);
  });
  return out;
}

function compileOne(a: AttributeConf, field: string): Attribute {
  if (a.value_source === undefined) {
    if ((BUILT_IN_KEYS as readonly string[]).includes(a.key)) return { key: a.key, source: a.key as 'question' | 'answer' };
    throw new Error(`${field}.value_source: required (keys without one: ${BUILT_IN_KEYS.join(', ')})`);
  }
  if (a.value === undefined || a.value === '') throw new Error(`${field}.value: required for value_source ${a.value_source}`);
  const fallback = a.default_value;
  switch (a.value_source) {
    case 'fixed_value':
      return { key: a.key, source: 'fixed_value', value: a.value };
    case 'request_header':
    case 'response_header':
      return { key: a.key, source: a.value_source, header: a.value.toLowerCase(), fallback };
    case 'request_body':
    case 'response_body':
      return { key: a.key, source: a.value_source, path: parseGjsonPath(a.value, `${field}.value`), fallback };
    case 'response_streaming_body':
      if (a.rule === undefined) throw new Error(`${field}.rule: required for value_source response_streaming_body (first, replace or append)`);
      return { key: a.key, source: 'response_streaming_body', path: parseGjsonPath(a.value, `${field}.value`), rule: a.rule, fallback };
  }
}

/** The attribute values of one request, gathered phase by phase. */
export class AttributeValues {
  readonly values = new Map<string, string>();

  constructor(private readonly attributes: readonly Attribute[], private readonly limit: number) {}

  /** access: the request's headers and JSON body (undefined when it had none). */
  request(ctx: PluginContext, body: JsonObject | undefined): void {
    for (const a of this.attributes) {
      if (a.source === 'fixed_value') this.set(a.key, a.value);
      else if (a.source === 'request_header') this.setOr(a.key, ctx.request.header(a.header), a.fallback);
      else if (a.source === 'request_body') this.setOr(a.key, body === undefined ? undefined : found(gjsonGet(body, a.path)), a.fallback);
      else if (a.source === 'question' && body !== undefined) this.set(a.key, lastUserMessage(body.messages));
    }
  }

  /** header_filter: the answer's headers. */
  responseHeaders(ctx: PluginContext): void {
    for (const a of this.attributes) {
      if (a.source === 'response_header') this.setOr(a.key, ctx.response.header(a.header), a.fallback);
    }
  }

  /** Each answer message: the JSON body (streamed false) or one streamed event. */
  message(body: Record<string, unknown>, streamed: boolean): void {
    for (const a of this.attributes) {
      if (a.source === 'response_body' && !streamed) this.setOr(a.key, found(gjsonGet(body, a.path)), undefined);
      if (a.source !== 'response_streaming_body' || !streamed) continue;
      const value = found(gjsonGet(body, a.path));
      if (value === undefined) continue;
      const had = this.values.get(a.key);
      if (a.rule === 'first' && had !== undefined) continue;
      this.set(a.key, a.rule === 'append' && had !== undefined ? had + value : value);
    }
  }

  /** log: the answer's text for `answer`, defaults for what never came. */
  finish(ai: AiContext | undefined): void {
    for (const a of this.attributes) {
      if (a.source === 'answer' && ai !== undefined) this.set(a.key, ai.answer);
      if ('fallback' in a && a.fallback !== undefined && !this.values.has(a.key)) this.set(a.key, a.fallback);
    }
  }

  private setOr(key: string, value: string | undefined, fallback: string | undefined): void {
    const v = value ?? fallback;
    if (v !== undefined) this.set(key, v);
  }

  private set(key: string, value: string): void {
    this.values.set(key, value.length > this.limit ? value.slice(0, this.limit) : value);
  }
}

function found(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : gjsonString(value);
}
