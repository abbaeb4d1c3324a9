// The query arguments of an upstream URI as a transformer store: arguments the rules do
// not touch keep their exact bytes; written ones are percent-encoded.
import type { Key, Store } from './transform-rules.js';

interface Arg { name: string; raw: string }

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function valueText(v: unknown): string {
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

export class QueryStore implements Store {
  changed = false;
  private readonly path: string;
  private args: Arg[];

  constructor(upstreamUri: string) {
    const q = upstreamUri.indexOf('?');
    this.path = q === -1 ? upstreamUri : upstreamUri.slice(0, q);
    const query = q === -1 ? '' : upstreamUri.slice(q + 1);
    this.args = query === '' ? [] : query.split('&').filter((s) => s.length > 0).map((raw) => {
      const eq = raw.indexOf('=');
      return { name: decode(eq === -1 ? raw : raw.slice(0, eq)), raw };
    });
  }

  values(key: Key): unknown[] {
    return this.args.filter((a) => a.name === key).map((a) => {
      const eq = a.raw.indexOf('=');
      return eq === -1 ? '' : decode(a.raw.slice(eq + 1));
    });
  }

  get(key: Key): unknown {
    const list = this.values(key);
    return list.length === 0 ? undefined : list.length === 1 ? list[0] : list;
  }

  /** A list becomes the argument repeated, in place of the first occurrence (else at the end). */
  set(key: Key, value: unknown): void {
    const name = key as string;
    const list = Array.isArray(value) ? value : [value];
    const fresh = list.map((v) => ({ name, raw: `${encodeURIComponent(name)}=${encodeURIComponent(valueText(v))}` }));
    const at = this.args.findIndex((a) => a.name === name);
    const rest = this.args.filter((a) => a.name !== name);
    const index = at === -1 ? rest.length : this.args.slice(0, at).filter((a) => a.name !== name).length;
    rest.splice(index, 0, ...fresh);
    this.args = rest;
    this.changed = true;
  }

  delete(key: Key): void {
    this.args = this.args.filter((a) => a.name !== key);
    this.changed = true;
  }

  uri(): string {
    return this.args.length === 0 ? this.path : `${this.path}?${this.args.map((a) => a.raw).join('&')}`;
  }
}
