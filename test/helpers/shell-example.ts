import { spawn } from 'node:child_process';

// Runs the `sh` examples of the documentation (README, docs/plugins/*.md) against a real
// gateway, so a documented command that stopped working fails a test. A command's
// trailing comment that starts with a status (`# 401 ...`) is what the command must
// answer; `curl -i` commands without one must answer 2xx.

export interface ShellCommand {
  /** The command as written (continuation lines included), comment removed. */
  text: string;
  /** The status its comment announces, if any. */
  expectedStatus?: number;
  /** Its comment (on its line, or the comment lines right above it). */
  comment?: string;
}

export interface CommandResult extends ShellCommand {
  output: string;
  /** The status line of the last response in the output (`curl -i`), if any. */
  status?: number;
  /** The body of the last response in the output. */
  body: string;
}

/** The fenced code blocks of a language (`sh`) in a markdown text, after `fromHeading` when given. */
export function codeBlocks(markdown: string, lang: string, fromHeading?: string): string[] {
  let text = markdown;
  if (fromHeading !== undefined) {
    const at = text.indexOf(fromHeading);
    if (at < 0) throw new Error(`heading "${fromHeading}" not found`);
    text = text.slice(at + fromHeading.length);
    // up to the next heading of level 1 or 2 outside a code block
    const lines = text.split('\n');
    let fenced = false;
    const end = lines.findIndex((l) => {
      if (l.startsWith('```')) fenced = !fenced;
      return !fenced && /^#{1,2} /.test(l);
    });
    if (end >= 0) text = lines.slice(0, end).join('\n');
  }
  const out: string[] = [];
  const re = new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```', 'gm');
  for (const m of text.matchAll(re)) out.push(m[1]!);
  return out;
}

/**
 * Splits a shell block into commands: a command goes on while a single-quoted string is
 * open (the JSON bodies of `-d '...'`); `#` outside quotes starts a comment, which belongs
 * to the command on its line or, on a line of its own, to the command right below it.
 */
export function splitCommands(block: string): ShellCommand[] {
  const commands: ShellCommand[] = [];
  let current = '';
  let inQuote: string | undefined;
  let comment = '';
  for (const line of block.split('\n')) {
    let code = '';
    let lineComment = '';
    for (let i = 0; i < line.length; i++) {
      const ch = line[i]!;
      if (inQuote !== undefined) {
        if (ch === inQuote) inQuote = undefined;
      } else if (ch === '\'' || ch === '"') {
        inQuote = ch;
      } else if (ch === '#' && (i === 0 || /\s/.test(line[i - 1]!))) {
        lineComment = line.slice(i + 1).trim();
        break;
      }
      code += ch;
    }
    current += (current === '' ? '' : '\n') + code.replace(/\s+$/, '');
    // a comment on the line of a command, or on the line right above it, is the command's
    const commentOnly = current.trim() === '';
    if (lineComment !== '') comment = commentOnly && comment !== '' ? `${comment} ${lineComment}` : lineComment;
    else if (commentOnly) comment = '';
    if (inQuote !== undefined || current.endsWith('\\')) continue;
    if (current.trim() === '') {
      current = '';
      continue;
    }
    const status = /^(\d{3})\b/.exec(comment);
    commands.push({
      text: current.trim(),
      ...(status !== null ? { expectedStatus: Number(status[1]) } : {}),
      ...(comment !== '' ? { comment } : {}),
    });
    current = '';
    comment = '';
  }
  if (current.trim() !== '') throw new Error(`unterminated command: ${current}`);
  return commands;
}

/** Replaces every occurrence of each key (e.g. `127.0.0.1:9080`) by its value. */
export function substitute(text: string, replacements: Record<string, string>): string {
  let out = text;
  for (const [from, to] of Object.entries(replacements)) out = out.split(from).join(to);
  return out;
}

const MARK = '@@gatehouse-example-command-done@@';

/**
 * Runs the commands in one bash process (so `admin_key=$(...)` carries over), in `cwd`.
 * After each command it waits until `readyUrl` (the gateway's /status/ready) answers
 * 200, i.e. every worker applied the write the command may have made.
 */
export async function runCommands(commands: ShellCommand[], opts: { cwd: string; readyUrl: string }): Promise<CommandResult[]> {
  const prelude = `set -u
__wait_ready() {
  for _ in $(seq 1 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' '${opts.readyUrl}')" = 200 ] && return 0
    sleep 0.05
  done
  echo "gateway not ready" >&2; return 1
}
`;
  const script = prelude + commands.map((c) => `${c.text}\necho; echo '${MARK}'; __wait_ready\n`).join('');
  const output = await new Promise<string>((resolve, reject) => {
    const proc = spawn('bash', ['-c', script], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    proc.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) reject(new Error(`bash exited with ${code}: ${err}\n${out}`));
      else resolve(out);
    });
  });
  const parts = output.split(`\n${MARK}\n`);
  return commands.map((c, i) => {
    const text = (parts[i] ?? '').replace(/\r\n/g, '\n');
    const heads = [...text.matchAll(/^HTTP\/1\.[01] (\d{3})[^\n]*\n[\s\S]*?\n\n/gm)];
    const last = heads.at(-1);
    return {
      ...c,
      output: text,
      ...(last !== undefined ? { status: Number(last[1]) } : {}),
      body: last !== undefined ? text.slice(last.index! + last[0].length).trim() : text.trim(),
    };
  });
}

/** The header fields of the last response head in a command's output, names lower-cased. */
function lastHeaders(output: string): Map<string, string> {
  const heads = [...output.matchAll(/^HTTP\/1\.[01] \d{3}[^\n]*\n([\s\S]*?)\n\n/gm)];
  const out = new Map<string, string>();
  for (const line of (heads.at(-1)?.[1] ?? '').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return out;
}

/** A JSON body compacted (`{"a": 1}` → `{"a":1}`), or the body as it is when it is not JSON. */
function compact(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body));
  } catch {
    return body;
  }
}

/**
 * What a command's comment announces, checked against its answer:
 *  - the status it starts with (`# 401 ...`); without one, a `curl -i` answer must be 2xx;
 *  - after the status, a JSON object (`# 401 {"message":"..."}`): the body contains it;
 *  - `Header-Name: value` (a name with a dash, or Location): the last response has that
 *    header, whose value is `value` or starts with `value `;
 *  - `"key": "value"` pairs (with the space, as in the echo's output): the compacted body
 *    contains `"key":"value"`.
 * Commands without an HTTP answer (an assignment, `tail`) are not checked.
 */
export function checkAnswers(results: CommandResult[], where: string): void {
  for (const r of results) {
    const fail = (what: string): never => {
      throw new Error(`${where}: ${what}, from:\n${r.text}\noutput:\n${r.output}`);
    };
    if (r.status === undefined) {
      if (r.expectedStatus !== undefined) fail('no HTTP response');
      continue;
    }
    if (r.expectedStatus === undefined) {
      if (r.status < 200 || r.status >= 300) fail(`expected 2xx, got ${r.status}`);
      continue;
    }
    if (r.status !== r.expectedStatus) fail(`expected ${r.expectedStatus}, got ${r.status}`);
    const comment = r.comment ?? '';
    const json = /^\d{3} (\{.*\})/.exec(comment);
    if (json !== null && !r.body.includes(json[1]!)) fail(`the body does not contain ${json[1]}`);
    const headers = lastHeaders(r.output);
    for (const m of comment.matchAll(/\b((?:[A-Za-z0-9]+-)+[A-Za-z0-9]+|Location): ([^\s]+?)(?=,?\s|,?$)/g)) {
      const [, name, value] = m;
      const got = headers.get(name!.toLowerCase());
      if (got === undefined) fail(`no ${name} header`);
      if (got !== value && !got!.startsWith(`${value} `)) fail(`${name} is "${got}", not "${value}"`);
    }
    const body = compact(r.body);
    for (const m of comment.matchAll(/("[\w-]+"): ("[^"]*")/g)) {
      const pair = `${m[1]}:${m[2]}`;
      if (!body.includes(pair)) fail(`the body has no ${pair}`);
    }
  }
}

export interface AdminWrite {
  method: string;
  /** The path after `/apisix/admin/`, e.g. `routes/1`, `consumers/jack/credentials/c1`. */
  path: string;
  /** The JSON body of `-d '...'`. */
  body: Record<string, unknown>;
}

/** The Admin API writes (`curl ... /apisix/admin/... -X PUT -d '{...}'`) among commands. */
export function adminWrites(commands: ShellCommand[]): AdminWrite[] {
  const out: AdminWrite[] = [];
  for (const c of commands) {
    const url = /https?:\/\/[^/\s'"]+\/apisix\/admin\/([^\s'"?]+)/.exec(c.text);
    const data = /(?:-d|--data(?:-raw)?) '([\s\S]*?)'/.exec(c.text);
    if (url === null || data === null) continue;
    const method = /-X\s*(\w+)/.exec(c.text)?.[1] ?? 'POST';
    let body: unknown;
    try {
      body = JSON.parse(data[1]!);
    } catch (err) {
      throw new Error(`the body of this command is not JSON (${(err as Error).message}):\n${c.text}`);
    }
    out.push({ method, path: url[1]!, body: body as Record<string, unknown> });
  }
  return out;
}
