// What frontend-gray writes into the HTML pages it serves, as Higress's util.InjectContent
// and FixLocalStorageKey do: snippets before `</head>`, after `<body>` and before
// `</body>`, a `window` global with the rules the user hits, the `{version}` placeholder
// replaced, and the script that copies a localStorage user id into a cookie.

export interface HtmlInjection {
  head: readonly string[];
  bodyFirst: readonly string[];
  bodyLast: readonly string[];
  /** Higress's `injection.globalConfig`, when enabled. */
  global: { key: string; featureKey: string; value: string } | undefined;
  localStorageGrayKey: string | undefined;
}

/** Go's json.Marshal escapes these so the JSON cannot close the script element it sits in. */
function htmlSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}

/** The `<script>` defining the global `key` with `featureKey`: which rule the user hits, by rule name. */
export function globalConfigScript(g: NonNullable<HtmlInjection['global']>, hits: ReadonlyMap<string, boolean>): string {
  const features = Object.fromEntries([...hits].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const value = g.value.trim().replace(/^\{/, '').replace(/\}$/, '');
  return `<script>var ${g.key} = {\n${g.featureKey}:${htmlSafeJson(features)},\n ${value} \n}\n</script>`;
}

function localStorageScript(key: string): string {
  const name = JSON.stringify(key).replace(/</g, '\\u003c');
  return `<script>
!function(){var o,e,n=${name},t=document.cookie.split("; ").filter(function(o){return 0===o.indexOf(n+"=")});try{"undefined"!=typeof localStorage&&null!==localStorage&&(o=localStorage.getItem(n),e=0<t.length?decodeURIComponent(t[0].split("=")[1]):null,o)&&o.indexOf("=")<0&&e&&e!==o&&(document.cookie=n+"="+encodeURIComponent(o)+"; path=/;",window.location.reload())}catch(o){}}();
</script>
`;
}

/** The page with the injections made, `{version}` replaced, then the localStorage script added. */
export function rewriteHtml(html: string, inj: HtmlInjection, version: string, globalScript: string | undefined): string {
  const head = globalScript === undefined ? inj.head : [globalScript, ...inj.head];
  let out = html;
  if (head.length > 0) out = out.replaceAll('</head>', `${head.join('\n')}\n</head>`);
  if (inj.bodyFirst.length > 0) out = out.replaceAll('<body>', `<body>\n${inj.bodyFirst.join('\n')}`);
  if (inj.bodyLast.length > 0) out = out.replaceAll('</body>', `${inj.bodyLast.join('\n')}\n</body>`);
  out = out.replaceAll('{version}', version);
  if (inj.localStorageGrayKey !== undefined) out = out.replaceAll('<body>', `<body>\n${localStorageScript(inj.localStorageGrayKey)}`);
  return out;
}
