// APISIX's `core.utils.resolve_var`: `$name`, `${name}` and `${name ?? default}` in a
// config string are replaced by request variables (nil → '' or the default); `\$` is
// left alone. Parsed once in prepare into literal and variable segments, so a request
// only looks variables up and concatenates.
//
// With `captures`, purely numeric names (`$1`, `${2}`) read the capture groups of a
// regex match instead (APISIX's `resolve_var_with_captures`, used by proxy-rewrite for
// `regex_uri` captures in header values).

type Lookup = (name: string) => unknown;

type Segment =
  | { kind: 'text'; text: string }
  | { kind: 'var'; name: string; fallback: string | undefined }
  | { kind: 'capture'; index: number };

export interface VarTemplate {
  /** The source text. */
  readonly source: string;
  /** True when the template has no variable: `render` returns `source`. */
  readonly isStatic: boolean;
  /** The variable names it reads (captures excluded). */
  readonly variables: readonly string[];
  /**
   * Resolves the template. `escape` is applied to each resolved variable value (APISIX
   * passes one to keep a `?` in a value from splitting a URI).
   */
  render(lookup: Lookup, captures?: readonly (string | undefined)[], escape?: (v: string) => string): string;
}

// `$` not preceded by a backslash, then `{ name }` or a run of word characters and dots.
const VAR_PATTERN = /(?<!\\)\$(?:\{\s*([^}]+?)\s*\}|([\w.]+))/g;
const DEFAULT_SPLIT = /\s*\?\?\s*/;

export function compileVarTemplate(source: string, opts: { captures?: boolean } = {}): VarTemplate {
  const segments: Segment[] = [];
  let last = 0;
  if (source.includes('$')) {
    for (const m of source.matchAll(VAR_PATTERN)) {
      const at = m.index!;
      if (at > last) segments.push({ kind: 'text', text: source.slice(last, at) });
      last = at + m[0].length;
      const braced = m[1];
      if (braced !== undefined) {
        const parts = braced.split(DEFAULT_SPLIT);
        const name = parts[0]!;
        if (opts.captures && /^\d+$/.test(name)) segments.push({ kind: 'capture', index: Number(name) });
        else segments.push({ kind: 'var', name, fallback: parts.length > 1 ? parts[1] : undefined });
        continue;
      }
      const word = m[2]!;
      const digits = opts.captures ? /^\d+/.exec(word) : null;
      if (digits !== null) {
        segments.push({ kind: 'capture', index: Number(digits[0]) });
        if (digits[0].length < word.length) segments.push({ kind: 'text', text: word.slice(digits[0].length) });
      } else {
        segments.push({ kind: 'var', name: word, fallback: undefined });
      }
    }
  }
  if (last < source.length) segments.push({ kind: 'text', text: source.slice(last) });
  const isStatic = segments.every((s) => s.kind === 'text');
  const variables = segments.flatMap((s) => (s.kind === 'var' ? [s.name] : []));

  if (isStatic) {
    return { source, isStatic, variables, render: () => source };
  }
  const n = segments.length;
  return {
    source,
    isStatic,
    variables,
    render(lookup, captures, escape) {
      let out = '';
      for (let i = 0; i < n; i++) {
        const s = segments[i]!;
        if (s.kind === 'text') {
          out += s.text;
        } else if (s.kind === 'capture') {
          out += captures?.[s.index] ?? '';
        } else {
          const v = lookup(s.name);
          let str: string;
          if (v === undefined || v === null) {
            if (s.fallback === undefined) continue;
            str = s.fallback;
          } else {
            str = typeof v === 'string' ? v : String(v);
          }
          out += escape === undefined ? str : escape(str);
        }
      }
      return out;
    },
  };
}
