// nginx's URI escaping as APISIX applies it to a rewritten upstream URI
// (`core.utils.uri_safe_encode` = ngx_escape_uri with NGX_ESCAPE_URI): control
// characters, space, `#`, `%`, `?`, DEL and every non-ASCII byte (of the UTF-8 form)
// are percent-encoded; everything else is kept.

const ESCAPE = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  ESCAPE[b] = b <= 0x20 || b >= 0x7f || b === 0x23 /* # */ || b === 0x25 /* % */ || b === 0x3f /* ? */ ? 1 : 0;
}
const HEX = '0123456789ABCDEF';

function needsEscape(s: string, controlOnly: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (controlOnly ? c < 0x20 || c === 0x7f : c > 0x7e || ESCAPE[c] === 1) return true;
  }
  return false;
}

/** ngx_escape_uri(…, NGX_ESCAPE_URI): the path part of a rewritten URI. */
export function uriSafeEncode(s: string): string {
  if (!needsEscape(s, false)) return s;
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += ESCAPE[b] === 1 ? '%' + HEX[b >> 4]! + HEX[b & 15]! : String.fromCharCode(b);
  }
  return out;
}

/** Percent-encodes only control characters (0x00–0x1F, 0x7F): the query part, whose `?`, `=` and `&` stay. */
export function escapeUriControlChars(s: string): string {
  if (!needsEscape(s, true)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c < 0x20 || c === 0x7f ? '%' + HEX[c >> 4]! + HEX[c & 15]! : s[i];
  }
  return out;
}
