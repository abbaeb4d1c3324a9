// Path globs as Higress's frontend-gray matches them (Go's doublestar): `*` and `?` stay
// inside one path segment, a `**` segment spans any number of segments (none included),
// `[abc]`/`[!abc]` classes and `{a,b}` alternatives. Each glob is carried into an anchored
// RE2 pattern once, so matching a request path is linear in the path.
import { RE2JS } from 're2js';

export interface PathGlob {
  readonly source: string;
  matches(path: string): boolean;
}

const MAX_ALTERNATIVE_DEPTH = 8;

function quote(c: string): string {
  return /[\\.+*?()|[\]{}^$]/.test(c) ? `\\${c}` : c;
}

/** The RE2 text of `glob[from..]` up to an unnested `stop` character; returns it and where it stopped. */
function translate(glob: string, from: number, stops: string, depth: number): { re: string; end: number } {
  let re = '';
  let i = from;
  while (i < glob.length && !stops.includes(glob[i]!)) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const segmentStart = i === 0 || glob[i - 1] === '/';
      const segmentEnd = i + 2 === glob.length || glob[i + 2] === '/';
      if (!segmentStart || !segmentEnd) throw new Error(`"${glob}": ** must be a whole path segment`);
      if (i + 2 === glob.length) {
        // `/a/**` also matches `/a` itself, as doublestar does
        re = re.endsWith('/') ? `${re.slice(0, -1)}(?:/.*)?` : `${re}.*`;
        i += 2;
      } else {
        re += '(?:[^/]*/)*';
        i += 3;
      }
      continue;
    }
    if (c === '*') { re += '[^/]*'; i++; continue; }
    if (c === '?') { re += '[^/]'; i++; continue; }
    if (c === '\\') {
      if (i + 1 >= glob.length) throw new Error(`"${glob}": ends with an escaping \\`);
      re += quote(glob[i + 1]!);
      i += 2;
      continue;
    }
    if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) throw new Error(`"${glob}": [ without ]`);
      let body = glob.slice(i + 1, close);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      const members = body.replace(/[\\\]^[]/g, (m) => `\\${m}`);
      re += negated ? `[^/${members}]` : `[${members}]`;
      i = close + 1;
      continue;
    }
    if (c === '{') {
      if (depth >= MAX_ALTERNATIVE_DEPTH) throw new Error(`"${glob}": {…} nested too deep`);
      const options: string[] = [];
      let j = i + 1;
      for (;;) {
        const part = translate(glob, j, ',}', depth + 1);
        options.push(part.re);
        if (part.end >= glob.length) throw new Error(`"${glob}": { without }`);
        j = part.end + 1;
        if (glob[part.end] === '}') break;
      }
      re += `(?:${options.join('|')})`;
      i = j;
      continue;
    }
    re += quote(c);
    i++;
  }
  return { re, end: i };
}

/** Compiles a glob; throws naming what is wrong with it. */
export function compilePathGlob(glob: string): PathGlob {
  const { re, end } = translate(glob, 0, '', 0);
  if (end !== glob.length) throw new Error(`"${glob}": unexpected "${glob[end]}"`);
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(`^(?:${re})$`, RE2JS.DOTALL);
  } catch (e) {
    throw new Error(`"${glob}": ${e instanceof Error ? e.message : String(e)}`);
  }
  return { source: glob, matches: (path) => compiled.matches(path) };
}
