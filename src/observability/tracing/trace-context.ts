import { isSpanId, isTraceId } from './ids.js';

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and
// `tracestate` request headers, read from the client and written to the upstream.

export interface ParentContext {
  traceId: string;
  /** The caller's span: the parent of the gateway's server span. */
  spanId: string;
  /** The caller sampled this trace (flags bit 0). */
  sampled: boolean;
  /** The caller's tracestate, checked; '' when absent or malformed. */
  traceState: string;
}

const HEX2 = /^[0-9a-f]{2}$/;

/**
 * `version-traceid-parentid-flags`. Version ff and malformed ids are refused; a version
 * above 00 may carry more fields after the flags (the spec's forward compatibility),
 * version 00 may not. Upper-case hex is refused, as the spec requires lower case.
 */
export function parseTraceparent(header: string | undefined, tracestate: string | undefined): ParentContext | undefined {
  if (header === undefined) return undefined;
  const v = header.trim();
  if (v.length < 55 || v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return undefined;
  const version = v.slice(0, 2);
  if (!HEX2.test(version) || version === 'ff') return undefined;
  if (v.length > 55 && (version === '00' || v.charCodeAt(55) !== 45)) return undefined;
  const traceId = v.slice(3, 35);
  const spanId = v.slice(36, 52);
  const flags = v.slice(53, 55);
  if (!isTraceId(traceId) || !isSpanId(spanId) || !HEX2.test(flags)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1, traceState: checkedTracestate(tracestate) };
}

/** The `traceparent` value for span `spanId` of trace `traceId`. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

const MAX_MEMBERS = 32;
// simple-key / tenant@system keys, and values of printable ASCII but `,` and `=`, no trailing space
const KEY = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * The tracestate passed on: its members re-joined with `,`, or '' when there is none or any
 * member is malformed (the spec lets a vendor discard a tracestate it cannot parse whole).
 * Several tracestate headers arrive joined with `, `, which is how the spec combines them.
 */
export function checkedTracestate(header: string | undefined): string {
  if (header === undefined || header === '') return '';
  const out: string[] = [];
  for (const raw of header.split(',')) {
    const member = raw.trim();
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0 || !KEY.test(member.slice(0, eq)) || !VALUE.test(member.slice(eq + 1))) return '';
    if (out.length === MAX_MEMBERS) return '';
    out.push(member);
  }
  return out.join(',');
}
