// One text field of a buffered multipart/form-data body (an audio or image upload's `model`),
// found by byte positions so a plugin can read it or replace its value and leave every other
// byte (files, part headers, boundary) exactly as the client sent them. One forward scan:
// time linear in the body.

export interface FormField {
  /** The part's content: from the byte after its headers' blank line to the CRLF before the next delimiter. */
  value: Buffer;
  start: number;
  end: number;
}

/** The boundary of a `multipart/form-data` Content-Type, or undefined for another type or a missing boundary. */
export function formDataBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const [type, ...params] = contentType.split(';');
  if (type!.trim().toLowerCase() !== 'multipart/form-data') return undefined;
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'boundary') continue;
    let value = param.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    // RFC 2046: 1 to 70 characters
    return value.length >= 1 && value.length <= 70 ? value : undefined;
  }
  return undefined;
}

const CRLF = Buffer.from('\r\n');
const HEADERS_END = Buffer.from('\r\n\r\n');

/** The first part whose Content-Disposition is `form-data` with `name`; undefined when none (or the body is malformed). */
export function findFormField(body: Buffer, boundary: string, name: string): FormField | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  const nextDelimiter = Buffer.concat([CRLF, delimiter]);
  let at = body.subarray(0, delimiter.length).equals(delimiter) ? 0 : body.indexOf(nextDelimiter);
  if (at < 0) return undefined;
  if (at > 0) at += CRLF.length;
  for (;;) {
    const afterDelimiter = at + delimiter.length;
    if (body[afterDelimiter] === 0x2d && body[afterDelimiter + 1] === 0x2d) return undefined; // the closing delimiter
    const lineEnd = body.indexOf(CRLF, afterDelimiter);
    if (lineEnd < 0) return undefined;
    const headersStart = lineEnd + CRLF.length;
    // a part with no headers starts with the blank line itself
    const headersEnd = body.subarray(headersStart, headersStart + 2).equals(CRLF)
      ? headersStart - CRLF.length
      : body.indexOf(HEADERS_END, headersStart);
    if (headersEnd < 0) return undefined;
    const start = headersEnd + HEADERS_END.length;
    const end = body.indexOf(nextDelimiter, start);
    if (end < 0) return undefined;
    if (headersEnd > headersStart && partName(body.toString('utf8', headersStart, headersEnd)) === name) {
      return { value: body.subarray(start, end), start, end };
    }
    at = end + CRLF.length;
  }
}

/** `body` with the bytes of `field` replaced by `value`. */
export function replaceFormField(body: Buffer, field: FormField, value: string): Buffer {
  return Buffer.concat([body.subarray(0, field.start), Buffer.from(value), body.subarray(field.end)]);
}

const NAME_PARAM = /;\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i;

/** The form field name of a part's headers (Go's Part.FormName): undefined unless its disposition is `form-data`. */
function partName(headers: string): string | undefined {
  for (const line of headers.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
    const value = line.slice(colon + 1).trim();
    if (value.split(';', 1)[0]!.trim().toLowerCase() !== 'form-data') return undefined;
    const m = NAME_PARAM.exec(value);
    if (m === null) return undefined;
    return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
  }
  return undefined;
}
