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
