// Header checks and the one way plugins "add" a header through a set-only API.

/** APISIX `validate_header_field`: visible ASCII (`!`..`~`) without `:`. */
export function isValidHeaderName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 32 || c >= 127 || c === 58) return false;
  }
  return true;
}

/** APISIX `validate_header_value`: no control characters, ASCII only. */
export function isValidHeaderValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 32 || c >= 127) return false;
  }
  return true;
}

/**
 * Adding a header whose name is already present: the plugin API sets one value per
 * name, so the values are joined with `, ` — the same meaning for every header that
 * may repeat, except `Set-Cookie` (RFC 9110 §5.3).
 */
export function appendHeaderValue(current: string | undefined, value: string): string {
  return current === undefined || current === '' ? value : `${current}, ${value}`;
}

/** A header value from config: numbers become their decimal form. */
export function headerValueText(v: unknown): string {
  return typeof v === 'string' ? v : String(v);
}

// JSON-schema pieces for headers in plugin configuration. Every schema that holds a
// header name or value uses them, so a CR or LF (which would make every request fail
// when the header is written) is refused at write time with the field named.

/** A header name: visible ASCII without `:` (APISIX `validate_header_field`). */
export const HEADER_NAME_SCHEMA = { type: 'string', minLength: 1, pattern: '^[!-9;-~]+$' } as const;

/** A header value as text: no control character but horizontal tab (no NUL, CR or LF). */
export const HEADER_TEXT_SCHEMA = { type: 'string', pattern: '^[^\\u0000-\\u0008\\u000a-\\u001f\\u007f]*$' } as const;

/** A header value that may be a number (written in its decimal form); `pattern` only applies to strings. */
export const HEADER_VALUE_SCHEMA = { type: ['string', 'number'], pattern: HEADER_TEXT_SCHEMA.pattern } as const;

/** `{ name: value }`: every key a header name, every value checked by `value`. */
export function headerMapSchema(value: Record<string, unknown> = HEADER_VALUE_SCHEMA, minProperties = 1): Record<string, unknown> {
  return { type: 'object', minProperties, propertyNames: HEADER_NAME_SCHEMA, additionalProperties: value };
}

/**
 * A whole `Name: value` line (response-rewrite `headers.add`): APISIX's shape (no `:` in
 * the value, not ending in `/`) with a header name and no control character but tab.
 */
export const HEADER_LINE_PATTERN = '^[!-9;-~]+:[^:\\u0000-\\u0008\\u000a-\\u001f\\u007f]*[^:/\\u0000-\\u0008\\u000a-\\u001f\\u007f]$';
