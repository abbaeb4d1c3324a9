// Byte-class lookup tables shared by the HTTP/1.1 parsers (256 entries, 0 = not in the class).
// No class contains CR, so a scanning loop driven by any of them stops at a CR at the latest.

/** tchar (RFC 9110 §5.6.2): 1 = token byte, 2 = upper-case ASCII letter (also a token byte). */
export const TCHAR = new Uint8Array(256);
/** request-target bytes: anything above 0x20 except DEL. */
export const TARGET = new Uint8Array(256);
/** field-value bytes (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB. */
export const VALUE = new Uint8Array(256);
/** Host value bytes (RFC 3986 reg-name / IPv4 / IP-literal, ':' port): unreserved, '%', sub-delims, ':', '[', ']'. */
export const HOST = new Uint8Array(256);
/** Hex digit value + 1 (0 = not a hex digit). */
export const HEX = new Uint8Array(256);

{
  const tokenSpecials = "!#$%&'*+-.^_`|~";
  for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 2;
  for (let k = 0; k < tokenSpecials.length; k++) TCHAR[tokenSpecials.charCodeAt(k)] = 1;

  for (let c = 0x21; c <= 0xff; c++) if (c !== 0x7f) TARGET[c] = 1;

  VALUE[0x09] = 1;
  for (let c = 0x20; c <= 0xff; c++) if (c !== 0x7f) VALUE[c] = 1;

  const hostSpecials = "-._~%!$&'()*+,;=:[]";
  for (let c = 0x30; c <= 0x39; c++) HOST[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) HOST[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) HOST[c] = 1;
  for (let k = 0; k < hostSpecials.length; k++) HOST[hostSpecials.charCodeAt(k)] = 1;

  for (let c = 0; c < 10; c++) HEX[0x30 + c] = c + 1;
  for (let c = 0; c < 6; c++) {
    HEX[0x61 + c] = c + 11;
    HEX[0x41 + c] = c + 11;
  }
}
