// Host groups: one UriIndex per exact host, and wildcard hosts (`*.example.com`) in a
// trie over the reversed suffix, as APISIX's radixtree_host_uri does. Walking the
// request host from its last character visits every wildcard that covers it; trying
// the deepest first gives "longer wildcard beats shorter" with no allocation.
import type { RouteMatchInput } from '../../contracts/router.js';
import { UriIndex, type Candidate } from './uri-index.js';

class SuffixNode<T> {
  children: Map<number, SuffixNode<T>> | undefined;
  index: UriIndex<T> | undefined;
}

function matchSuffix<T>(node: SuffixNode<T>, host: string, i: number, input: RouteMatchInput): Candidate<T> | undefined {
  if (i >= 0 && node.children !== undefined) {
    const child = node.children.get(host.charCodeAt(i));
    if (child !== undefined) {
      const found = matchSuffix(child, host, i - 1, input);
      if (found !== undefined) return found;
    }
  }
  return node.index === undefined ? undefined : node.index.match(input);
}

export class HostIndex<T> {
  private readonly exact = new Map<string, UriIndex<T>>();
  private wildRoot: SuffixNode<T> | undefined;
  private readonly all: UriIndex<T>[] = [];

  /** The index for a lower-case host pattern: exact, or `*` followed by a suffix. */
  indexFor(pattern: string): UriIndex<T> {
    if (pattern[0] !== '*') {
      let index = this.exact.get(pattern);
      if (index === undefined) {
        index = new UriIndex<T>();
        this.exact.set(pattern, index);
        this.all.push(index);
      }
      return index;
    }
    // `*.foo.com` covers any host ending in `.foo.com` (not `foo.com` itself);
    // a bare `*` covers every host.
    let node = (this.wildRoot ??= new SuffixNode<T>());
    for (let i = pattern.length - 1; i >= 1; i--) {
      const c = pattern.charCodeAt(i);
      const children = (node.children ??= new Map());
      let child = children.get(c);
      if (child === undefined) {
        child = new SuffixNode<T>();
        children.set(c, child);
      }
      node = child;
    }
    if (node.index === undefined) {
      node.index = new UriIndex<T>();
      this.all.push(node.index);
    }
    return node.index;
  }

  seal(): void {
    for (const index of this.all) index.seal();
  }

  /** Exact host first, then wildcards from the longest suffix to the shortest. */
  match(host: string, input: RouteMatchInput): Candidate<T> | undefined {
    if (this.exact.size !== 0) {
      const index = this.exact.get(host);
      if (index !== undefined) {
        const found = index.match(input);
        if (found !== undefined) return found;
      }
    }
    return this.wildRoot === undefined ? undefined : matchSuffix(this.wildRoot, host, host.length - 1, input);
  }
}

/**
 * A route's host patterns as one condition, for the uri-only routers (radixtree_uri and
 * radixtree_uri_with_parameter check hosts after the uri, like any other condition):
 * exact names, `*.suffix` wildcards, `*` for any host; a pattern with a port compares
 * against `http_host`, which keeps the port.
 */
export function compileHostCondition(patterns: readonly string[]): (input: RouteMatchInput) => boolean {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  const withPort = new Set<string>();
  let any = false;
  for (const p of patterns) {
    if (p.lastIndexOf(':') > p.lastIndexOf(']')) withPort.add(p);
    else if (p === '*') any = true;
    else if (p[0] === '*') suffixes.push(p.slice(1));
    else exact.add(p);
  }
  if (any) return () => true;
  return (input) => {
    const host = input.host;
    if (exact.has(host)) return true;
    for (const suffix of suffixes) if (host.length > suffix.length && host.endsWith(suffix)) return true;
    if (withPort.size !== 0) {
      const httpHost = input.vars('http_host');
      if (typeof httpHost === 'string' && withPort.has(httpHost.toLowerCase())) return true;
    }
    return false;
  };
}
