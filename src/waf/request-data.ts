// What the rules read from a request, parsed lazily: a rule set that never names ARGS_POST
// never parses the body. Values are binary strings (one char per byte), as ModSecurity's.

export interface WafRequest {
  method: string;
  /** The request target as the client sent it (path and query). */
  rawUri: string;
  /** `HTTP/1.1` */
  protocol: string;
  /** Lower-case names (Node's), values as received; repeated headers joined with ", ". */
  readonly headers: Record<string, string>;
  /** One header by lower-case name, when cheaper than building `headers` (the gateway's). */
  header?(name: string): string | undefined;
  remoteAddr: string;
  remotePort: number;
  serverPort: number;
  host: string;
  uniqueId: string;
  /** Monotonic ms when the request started, for DURATION. */
  startedAt: number;
}

export type Pair = [name: string, value: string];

/** Limits that keep parsing bounded whatever the client sends. */
const MAX_ARGS = 1024;
const MAX_JSON_DEPTH = 32;

function decodeArg(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  return s.replace(/\+/g, ' ').replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** `a=1&b=2` → pairs, names and values URL-decoded (ModSecurity's ARGS). */
export function parseUrlEncoded(s: string): Pair[] {
  const out: Pair[] = [];
  if (s === '') return out;
  for (const part of s.split('&')) {
    if (part === '') continue;
    if (out.length >= MAX_ARGS) break;
    const eq = part.indexOf('=');
    out.push(eq < 0 ? [decodeArg(part), ''] : [decodeArg(part.slice(0, eq)), decodeArg(part.slice(eq + 1))]);
  }
  return out;
}

/**
 * A JSON body flattened as ModSecurity names it (`json.a.b`, arrays by index), until its
 * names and values reach `budget` bytes (the inspection limit: ProcessPartial).
 */
function flattenJson(value: unknown, prefix: string, out: Pair[], depth: number, budget: { left: number }): void {
  if (out.length >= MAX_ARGS || budget.left <= 0) return;
  if (value !== null && typeof value === 'object' && depth < MAX_JSON_DEPTH) {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    for (const [k, v] of entries) flattenJson(v, `${prefix}.${k}`, out, depth + 1, budget);
    return;
  }
  // JSON text is UTF-8: store the bytes, as every other value is stored.
  const name = Buffer.from(prefix, 'utf8').toString('latin1');
  const text = Buffer.from(value === null ? '' : String(value), 'utf8').toString('latin1');
  budget.left -= name.length + text.length;
  out.push([name, budget.left >= 0 ? text : text.slice(0, text.length + budget.left)]);
}

export interface MultipartPart {
  name: string;
  filename: string | undefined;
  value: string;
}

/** multipart/form-data parts (names, file names, values); bounded by the body's size. */
export function parseMultipart(body: string, contentType: string): MultipartPart[] | undefined {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (boundary === undefined) return undefined;
  const delimiter = `--${boundary}`;
  const parts: MultipartPart[] = [];
  for (const chunk of body.split(delimiter).slice(1)) {
    if (chunk.startsWith('--') || parts.length >= MAX_ARGS) break;
    const headEnd = chunk.indexOf('\r\n\r\n');
    if (headEnd < 0) {
      if (parts.length === 0) return undefined;
      break; // a part cut by the inspection limit
    }
    const head = chunk.slice(0, headEnd);
    const disposition = /content-disposition:[^\r\n]*/i.exec(head)?.[0] ?? '';
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1] ?? '';
    const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
    parts.push({ name, filename, value: chunk.slice(headEnd + 4).replace(/\r\n$/, '') });
  }
  return parts;
}

export type BodyProcessor = 'URLENCODED' | 'MULTIPART' | 'JSON' | 'XML' | '';

export function bodyProcessorFor(contentType: string): BodyProcessor {
  const type = contentType.toLowerCase();
  if (type.startsWith('application/x-www-form-urlencoded')) return 'URLENCODED';
  if (type.startsWith('multipart/form-data')) return 'MULTIPART';
  if (/^application\/(?:[a-z0-9.+-]*\+)?json\b/.test(type)) return 'JSON';
  if (/^(?:application|text)\/(?:[a-z0-9.+-]*\+)?xml\b/.test(type)) return 'XML';
  return '';
}

/** The request as the rules see it, parsed on first use. */
export class RequestData {
  private bodyText: string | undefined;
  /** The body as read, when longer than the inspection limit (JSON is parsed whole, inspected up to the limit). */
  private wholeBody: string | undefined;
  /** Bytes of the body the rules inspect (SecRequestBodyLimit, ProcessPartial). */
  bodyLimit = Number.POSITIVE_INFINITY;
  bodyProcessor: BodyProcessor;
  bodyError = '';
  private argsGetCache: Pair[] | undefined;
  private argsPostCache: Pair[] | undefined;
  private argsCache: Pair[] | undefined;
  private filesCache: MultipartPart[] = [];
  private cookiesCache: Pair[] | undefined;
  private headerPairs: Pair[] | undefined;

  constructor(readonly req: WafRequest) {
    this.bodyProcessor = bodyProcessorFor(this.header('content-type') ?? '');
  }

  get body(): string | undefined {
    return this.bodyText;
  }

  /** Attaches the request body (phase 2); the body arguments are parsed from it on first use. */
  set body(text: string | undefined) {
    const over = text !== undefined && text.length > this.bodyLimit;
    this.wholeBody = over ? text : undefined;
    this.bodyText = over ? text.slice(0, this.bodyLimit) : text;
    this.argsPostCache = undefined;
    this.argsCache = undefined;
  }

  /** ARGS: the query's arguments, then the body's. */
  args(): Pair[] {
    if (this.argsCache !== undefined) return this.argsCache;
    const post = this.argsPost();
    return (this.argsCache = post.length === 0 ? this.argsGet() : [...this.argsGet(), ...post]);
  }

  private pathCache: string | undefined;
  private queryCache: string | undefined;

  get path(): string {
    if (this.pathCache === undefined) {
      const q = this.req.rawUri.indexOf('?');
      this.pathCache = q < 0 ? this.req.rawUri : this.req.rawUri.slice(0, q);
    }
    return this.pathCache;
  }

  get queryString(): string {
    if (this.queryCache === undefined) {
      const q = this.req.rawUri.indexOf('?');
      this.queryCache = q < 0 ? '' : this.req.rawUri.slice(q + 1);
    }
    return this.queryCache;
  }

  header(name: string): string | undefined {
    return this.req.header !== undefined ? this.req.header(name) : this.req.headers[name];
  }

  headers(): Pair[] {
    return (this.headerPairs ??= Object.entries(this.req.headers));
  }

  argsGet(): Pair[] {
    return (this.argsGetCache ??= parseUrlEncoded(this.queryString));
  }

  /** Body arguments; empty until the body is attached (phase 2). */
  argsPost(): Pair[] {
    if (this.argsPostCache !== undefined) return this.argsPostCache;
    if (this.body === undefined) return [];
    const out: Pair[] = [];
    if (this.bodyProcessor === 'URLENCODED') out.push(...parseUrlEncoded(this.body));
    else if (this.bodyProcessor === 'JSON' && this.body.trim() !== '') {
      try {
        const json = Buffer.from(this.wholeBody ?? this.body, 'latin1').toString('utf8');
        flattenJson(JSON.parse(json), 'json', out, 0, { left: this.bodyLimit });
      } catch (err) {
        this.bodyError = `JSON parsing error: ${(err as Error).message}`;
      }
    } else if (this.bodyProcessor === 'MULTIPART') {
      const parts = parseMultipart(this.body, this.header('content-type') ?? '');
      if (parts === undefined) this.bodyError = 'multipart parsing error';
      else {
        this.filesCache = parts.filter((p) => p.filename !== undefined);
        for (const p of parts) if (p.filename === undefined) out.push([p.name, p.value]);
      }
    }
    return (this.argsPostCache = out);
  }

  files(): MultipartPart[] {
    this.argsPost();
    return this.filesCache;
  }

  cookies(): Pair[] {
    if (this.cookiesCache !== undefined) return this.cookiesCache;
    const out: Pair[] = [];
    const header = this.header('cookie') ?? '';
    for (const part of header.split(';')) {
      const trimmed = part.trim();
      if (trimmed === '' || out.length >= MAX_ARGS) continue;
      const eq = trimmed.indexOf('=');
      out.push(eq < 0 ? [trimmed, ''] : [trimmed.slice(0, eq), trimmed.slice(eq + 1)]);
    }
    return (this.cookiesCache = out);
  }
}
