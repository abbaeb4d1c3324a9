// Grok macros (`%{NAME}` and `%{NAME:capture}`) in users' regexes, as Higress's
// ai-data-masking takes them, expanded to RE2 syntax. Logstash's stock patterns lean on
// lookbehind/lookahead for their edges, which RE2 has not: these are rewritten with `\b`
// or without edges, and every one is compiled by RE2 in the unit tests. MOBILE and IDCARD
// are Higress's own (Chinese mobile and resident-ID numbers); BANKCARD, PHONE and EMAIL
// stand for the "bank card, phone, e-mail" types.

const IPV4_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const H16 = '[0-9A-Fa-f]{1,4}';

/** Pattern name → RE2 source; a source may name other patterns with `%{NAME}`. */
export const GROK_PATTERNS: Readonly<Record<string, string>> = {
  // Higress's own
  MOBILE: '\\d{8,11}',
  IDCARD: '\\d{17}[0-9xX]|\\d{15}',
  // the built-in types
  PHONE: '\\+?\\d{1,3}[ -]?\\(?\\d{2,4}\\)?[ -]?\\d{3,4}[ -]?\\d{3,4}',
  BANKCARD: '\\b[1-9]\\d{3}(?:[ -]?\\d{4}){2}[ -]?\\d{4}(?:\\d{1,3})?\\b',
  EMAIL: '%{EMAILADDRESS}',
  // Logstash's, RE2-safe
  USERNAME: '[a-zA-Z0-9._-]+',
  USER: '%{USERNAME}',
  EMAILLOCALPART: '[a-zA-Z0-9!#$%&\'*+\\-/=?^_`{|}~]{1,64}(?:\\.[a-zA-Z0-9!#$%&\'*+\\-/=?^_`{|}~]{1,64}){0,8}',
  HOSTNAME: '\\b(?:[0-9A-Za-z][0-9A-Za-z-]{0,62})(?:\\.(?:[0-9A-Za-z][0-9A-Za-z-]{0,62}))*\\b',
  EMAILADDRESS: '%{EMAILLOCALPART}@%{HOSTNAME}',
  IPV4: `\\b${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}\\b`,
  IPV6: [
    // longest first: RE2 takes the first alternative that matches (leftmost-first)
    `(?:${H16}:){7}${H16}`,
    `${H16}:(?::${H16}){1,6}`,
    `(?:${H16}:){1,2}(?::${H16}){1,5}`,
    `(?:${H16}:){1,3}(?::${H16}){1,4}`,
    `(?:${H16}:){1,4}(?::${H16}){1,3}`,
    `(?:${H16}:){1,5}(?::${H16}){1,2}`,
    `(?:${H16}:){1,6}:${H16}`,
    `(?:${H16}:){1,7}:`,
    `:(?:(?::${H16}){1,7}|:)`,
  ].join('|'),
  IP: '%{IPV6}|%{IPV4}',
  IPORHOST: '%{IP}|%{HOSTNAME}',
  MAC: '(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}',
  UUID: '[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}',
  INT: '[+-]?[0-9]+',
  POSINT: '\\b[1-9][0-9]*\\b',
  NONNEGINT: '\\b[0-9]+\\b',
  NUMBER: '[+-]?(?:[0-9]+(?:\\.[0-9]+)?|\\.[0-9]+)',
  BASE16NUM: '[+-]?(?:0x)?[0-9A-Fa-f]+',
  WORD: '\\b\\w+\\b',
  NOTSPACE: '\\S+',
  SPACE: '\\s*',
  DATA: '.*?',
  GREEDYDATA: '.*',
  QUOTEDSTRING: '"(?:[^"\\\\]|\\\\.)*"|\'(?:[^\'\\\\]|\\\\.)*\'',
  URIPROTO: '[A-Za-z][A-Za-z0-9+\\-.]*',
  URIPATH: '(?:/[A-Za-z0-9$.+!*\'(){},~:;=@#%&_\\-]*)+',
};

const MACRO = /%\{([A-Za-z0-9_]+)(?::([^}]*))?\}/g;
const CAPTURE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Patterns nest a few levels (EMAIL → EMAILADDRESS → HOSTNAME); more means a cycle. */
const MAX_DEPTH = 8;

/**
 * `pattern` with its grok macros replaced: `%{IP}` by `(?:…)`, `%{HOSTNAME:domain}` by a
 * named group `(?P<domain>…)`. Throws naming the macro that is unknown or malformed.
 */
export function expandGrok(pattern: string, depth = 0): string {
  if (depth > MAX_DEPTH) throw new Error(`grok patterns nest deeper than ${MAX_DEPTH} levels`);
  return pattern.replace(MACRO, (_all, name: string, capture: string | undefined) => {
    const source = GROK_PATTERNS[name];
    if (source === undefined) throw new Error(`unknown grok pattern %{${name}} (known: ${Object.keys(GROK_PATTERNS).join(', ')})`);
    const body = expandGrok(source, depth + 1);
    if (capture === undefined) return `(?:${body})`;
    if (!CAPTURE_NAME.test(capture)) {
      throw new Error(`%{${name}:${capture}}: a capture name is letters, digits and _ (no type suffix)`);
    }
    return `(?P<${capture}>${body})`;
  });
}
