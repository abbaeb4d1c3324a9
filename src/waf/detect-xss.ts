// @detectXSS: an HTML-tokenising cross-site-scripting detector in the manner of
// libinjection's (no maintained npm port). The input is scanned as HTML: a tag whose name
// runs script or loads content (script, iframe, object, svg, …), any event-handler
// attribute (`on…=`), an attribute value that is a javascript:/vbscript:/data:text/html
// URL or a CSS expression(), and an input that is itself such a URL. Plain text with `<`
// (`a < b`, `x<5`) and harmless markup (`<b>`, `<p class="x">`) pass. One linear pass.
// An equivalent, not a port; its blind spots are listed in docs/plugins/waf.md.

const DANGEROUS_TAGS = new Set([
  'script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'meta', 'base', 'link', 'style',
  'svg', 'math', 'xml', 'import', 'isindex', 'form', 'template', 'portal', 'xss', 'vmlframe', 'handler',
]);
const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'data', 'background', 'dynsrc', 'lowsrc', 'xlink:href', 'poster', 'codebase', 'srcdoc', 'values', 'to', 'from', 'by']);

/** Lower-cases and drops the characters browsers ignore inside a URL scheme (controls, whitespace). */
function schemeText(value: string): string {
  let out = '';
  for (let i = 0; i < value.length && out.length < 16; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) continue;
    out += value[i]!.toLowerCase();
  }
  return out;
}

const ENTITY = /&#x([0-9a-f]{1,6});?|&#([0-9]{1,7});?|&(colon|tab|newline);/gi;
const NAMED: Record<string, string> = { colon: ':', tab: '\t', newline: '\n' };

function isScriptUrl(value: string): boolean {
  // Browsers decode character references in attribute values before reading the scheme.
  const decoded = value.includes('&') ? value.replace(ENTITY, (_m, hex: string | undefined, dec: string | undefined, name: string | undefined) =>
    (name !== undefined ? NAMED[name.toLowerCase()]! : String.fromCharCode(hex !== undefined ? parseInt(hex, 16) & 0xffff : Number(dec) & 0xffff))) : value;
  const s = schemeText(decoded);
  return s.startsWith('javascript:') || s.startsWith('vbscript:') || s.startsWith('livescript:') || s.startsWith('data:text/html')
    || s.startsWith('data:image/svg');
}

const NAME_CHAR = /[a-z0-9:_-]/i;

/** Scans the attributes of a tag from `i`; true when one is dangerous. Returns [dangerous, end index]. */
function scanAttributes(s: string, start: number): [boolean, number] {
  let i = start;
  const n = s.length;
  while (i < n) {
    while (i < n && (/[\s/]/.test(s[i]!) || s[i] === '"' || s[i] === "'")) i++;
    if (i >= n || s[i] === '>') return [false, i];
    let name = '';
    while (i < n && !/[\s=>/]/.test(s[i]!)) name += s[i++]!;
    name = name.toLowerCase();
    while (i < n && /\s/.test(s[i]!)) i++;
    let value = '';
    if (s[i] === '=') {
      i++;
      while (i < n && /\s/.test(s[i]!)) i++;
      const q = s[i];
      if (q === '"' || q === "'" || q === '`') {
        const end = s.indexOf(q, i + 1);
        value = s.slice(i + 1, end < 0 ? n : end);
        i = end < 0 ? n : end + 1;
      } else {
        while (i < n && !/[\s>]/.test(s[i]!)) value += s[i++]!;
      }
    }
    if (name.length > 2 && name.startsWith('on') && /^on[a-z]+$/.test(name)) return [true, i];
    if (URL_ATTRS.has(name) && isScriptUrl(value)) return [true, i];
    if (name === 'style' && /expression\s*\(|url\s*\(\s*['"]?\s*javascript:/i.test(value)) return [true, i];
    if (name === '') i++;
  }
  return [false, i];
}

/** True when `input` looks like cross-site scripting. */
export function detectXss(input: string): boolean {
  // Neither a tag nor a URL scheme: nothing to look at.
  if (!input.includes('<') && !input.includes(':')) return false;
  if (isScriptUrl(input)) return true;
  const s = input;
  const n = s.length;
  let i = s.indexOf('<');
  while (i >= 0 && i < n) {
    let j = i + 1;
    if (s[j] === '/') j++;
    if (s.startsWith('!--', j) || s.startsWith('?', j)) {
      // Comments and processing instructions may hide a tag (`<!--<script>`): keep scanning inside.
      i = s.indexOf('<', j);
      continue;
    }
    let name = '';
    while (j < n && NAME_CHAR.test(s[j]!)) name += s[j++]!;
    if (name === '' || !/^[a-z]/i.test(name)) {
      i = s.indexOf('<', i + 1);
      continue;
    }
    if (DANGEROUS_TAGS.has(name.toLowerCase()) || DANGEROUS_TAGS.has(name.toLowerCase().split(':').pop()!)) {
      // `<script` followed by whitespace, `>`, `/` or the end is a tag; `<scripts are fun` is text.
      const after = s[j];
      if (after === undefined || /[\s>/]/.test(after)) return true;
    }
    const [dangerous, end] = scanAttributes(s, j);
    if (dangerous) return true;
    i = s.indexOf('<', Math.max(end, i + 1));
  }
  return false;
}
