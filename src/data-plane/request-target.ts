// Turns the raw request-target into nginx's `uri` (decoded, dot segments resolved,
// repeated slashes merged) and the raw query. Fast path: a plain path needs no work.

export interface RequestTarget {
  path: string;
  query: string;
}

const NEEDS_WORK = /%|\/\.|\/\//;

export function parseRequestTarget(url: string | undefined): RequestTarget | undefined {
  if (url === undefined || url.length === 0) return undefined;
  let target = url;
  if (target.charCodeAt(0) !== 47 /* / */) {
    // absolute-form (a client that treats us as a forward proxy): keep only path + query
    const m = /^https?:\/\/[^/?#]*/i.exec(target);
    if (m === null) return undefined;
    target = target.slice(m[0].length) || '/';
    if (target.charCodeAt(0) === 63 /* ? */) target = '/' + target;
  }
  const q = target.indexOf('?');
  let path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  const hash = path.indexOf('#');
  if (hash !== -1) path = path.slice(0, hash);
  if (NEEDS_WORK.test(path)) {
    const normalised = normalisePath(path);
    if (normalised === undefined) return undefined;
    path = normalised;
  }
  return { path, query };
}

function normalisePath(raw: string): string | undefined {
  let decoded: string;
  try {
    decoded = raw.includes('%') ? decodeURIComponent(raw) : raw;
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const out: string[] = [];
  const segments = decoded.split('/');
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === '' && !last) continue; // merge_slashes
    if (seg === '.') { if (last) out.push(''); continue; }
    if (seg === '..') {
      // nginx refuses to climb above the root
      if (out.length === 0) return undefined;
      out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(seg);
  }
  return '/' + out.join('/');
}
