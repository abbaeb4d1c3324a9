// proxy-wasm guest fixtures for the wasm host's tests (behaviour table: test/fixtures/wasm/README.md).
//   wasmFixture(name)  compiles test/fixtures/wasm/<name>.wat with wabt (cached per process);
//   asFixture(name)    reads an AssemblyScript-built plugin from test/fixtures/wasm/build/,
//                      building it first with scripts/build-wasm-fixtures.mjs if it is missing or stale.
// wat has no includes or string constants, so the sources use three small extensions, expanded here:
//   ;;@include FILE.wat       the file's text (relative to test/fixtures/wasm/)
//   ;;@marker 0.2.1           the ABI marker export (`none` for no marker); opts.marker overrides it
//   (str "text")              -> (i32.const PTR) (i32.const LEN) of the bytes, placed in a data segment
//   (pairs "k" "v" ...)       -> the same for the proxy-wasm pairs encoding of those headers
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import wabtInit from 'wabt';

export type AbiMarker = '0.1.0' | '0.2.0' | '0.2.1' | '0.2.100' | 'none';
export const ABI_MARKERS: readonly AbiMarker[] = ['0.1.0', '0.2.0', '0.2.1', '0.2.100', 'none'];

export interface WasmFixtureOptions {
  /** Replaces the fixture's own ABI marker export; `none` removes it. */
  marker?: AbiMarker;
}

/** The .wat fixtures (test/fixtures/wasm/README.md says what each does); a test keeps this in step with the folder. */
export const WASM_FIXTURES = [
  'set-header', 'abi-0-1-0', 'abi-0-2-0', 'abi-0-2-100', 'no-abi',
  'start-section', 'start-command', 'start-command-fails', 'start-wasi-unstable',
  'alloc-proxy', 'no-allocator', 'trap', 'loop', 'memory-grow', 'missing-context-create',
  'unknown-import', 'unknown-module', 'http-call', 'body-rewrite', 'body-stream', 'local-response',
  'response-headers', 'tick-shared', 'shared-cas', 'metrics', 'echo-config', 'properties', 'logging',
  'pause-resume-body',
] as const;
export type WasmFixtureName = (typeof WASM_FIXTURES)[number];
/** Any string is accepted (an unknown name is refused at run time); the known names autocomplete. */
type FixtureNameArg = WasmFixtureName | (string & {});

/** AssemblyScript plugins built by scripts/build-wasm-fixtures.mjs, with the root id each registers. */
export const AS_FIXTURES = {
  'as-add-header': { rootId: 'add_header' },
  'as-http-auth': { rootId: 'http_auth' },
} as const;
export type AsFixtureName = keyof typeof AS_FIXTURES;

// Fixture strings live between the prelude's scratch area and its heap (see prelude.wat).
const STRINGS_START = 1024;
const STRINGS_END = 65536;

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'test', 'fixtures', 'wasm'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('wasm-fixtures: cannot find the repository root above ' + import.meta.url);
    dir = parent;
  }
}

export const REPO_ROOT = findRepoRoot();
export const WAT_FIXTURE_DIR = join(REPO_ROOT, 'test', 'fixtures', 'wasm');
export const AS_BUILD_DIR = join(WAT_FIXTURE_DIR, 'build');
const BUILD_SCRIPT = join(REPO_ROOT, 'scripts', 'build-wasm-fixtures.mjs');

/** Names of the .wat fixtures (the included prelude files are not fixtures). */
export function listWasmFixtures(): string[] {
  return readdirSync(WAT_FIXTURE_DIR)
    .filter((f) => f.endsWith('.wat') && !isIncludeOnly(f))
    .map((f) => f.slice(0, -'.wat'.length))
    .sort();
}

function isIncludeOnly(file: string): boolean {
  return file === 'prelude.wat';
}

/** Decodes a wat string literal body (between the quotes) into bytes. */
export function decodeWatString(body: string): Uint8Array {
  const out: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== '\\') {
      out.push(...enc.encode(ch));
      continue;
    }
    const next = body[++i];
    if (next === undefined) throw new Error('wat string ends in a lone backslash');
    const simple: Record<string, number> = { t: 9, n: 10, r: 13, '"': 34, "'": 39, '\\': 92 };
    if (next in simple) out.push(simple[next]!);
    else if (next === 'u') {
      const close = body.indexOf('}', i);
      if (body[i + 1] !== '{' || close < 0) throw new Error('bad \\u escape in wat string');
      out.push(...enc.encode(String.fromCodePoint(parseInt(body.slice(i + 2, close), 16))));
      i = close;
    } else if (/^[0-9a-fA-F]{2}$/.test(body.slice(i, i + 2))) {
      out.push(parseInt(body.slice(i, i + 2), 16));
      i += 1;
    } else throw new Error(`bad escape \\${next} in wat string`);
  }
  return Uint8Array.from(out);
}

/** proxy-wasm pairs encoding (reference §1.2): count, (key_len, value_len)*, (key\0value\0)*. */
export function encodePairs(pairs: ReadonlyArray<readonly [Uint8Array, Uint8Array]>): Uint8Array {
  const size = 4 + pairs.length * 8 + pairs.reduce((n, [k, v]) => n + k.length + v.length + 2, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, pairs.length, true);
  let at = 4;
  for (const [k, v] of pairs) {
    view.setUint32(at, k.length, true);
    view.setUint32(at + 4, v.length, true);
    at += 8;
  }
  for (const [k, v] of pairs) {
    out.set(k, at);
    at += k.length + 1;
    out.set(v, at);
    at += v.length + 1;
  }
  return out;
}

const STRING_LITERAL = /"((?:[^"\\]|\\.)*)"/g;

function markerExport(marker: AbiMarker): string {
  return marker === 'none' ? '' : `(func (export "proxy_abi_version_${marker.replace(/\./g, '_')}"))`;
}

/** The plain wat text of a fixture with includes, marker and constants expanded. */
export function expandFixtureSource(name: FixtureNameArg, opts: WasmFixtureOptions = {}): string {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`wasm fixture name "${name}" is not a plain name`);
  const path = join(WAT_FIXTURE_DIR, `${name}.wat`);
  if (!existsSync(path) || isIncludeOnly(`${name}.wat`)) {
    throw new Error(`no wasm fixture "${name}" (have: ${listWasmFixtures().join(', ')})`);
  }
  let markerLines = 0;
  const lines = readFileSync(path, 'utf8').split('\n').map((line) => {
    const include = /^\s*;;@include\s+(\S+)\s*$/.exec(line);
    if (include) {
      const file = include[1]!;
      if (!/^[a-z0-9-]+\.wat$/.test(file)) throw new Error(`${name}.wat: bad include "${file}"`);
      return readFileSync(join(WAT_FIXTURE_DIR, file), 'utf8');
    }
    const marker = /^\s*;;@marker\s+(\S+)\s*$/.exec(line);
    if (marker) {
      const own = marker[1] as AbiMarker;
      if (!ABI_MARKERS.includes(own)) throw new Error(`${name}.wat: unknown ABI marker ${own}`);
      markerLines++;
      return markerExport(opts.marker ?? own);
    }
    return line;
  });
  if (markerLines !== 1) throw new Error(`${name}.wat: needs exactly one ;;@marker line, has ${markerLines}`);
  return placeConstants(name, lines.join('\n'));
}

function placeConstants(name: string, source: string): string {
  const placed = new Map<string, number>();
  const segments: string[] = [];
  let next = STRINGS_START;
  const place = (bytes: Uint8Array): string => {
    const key = Buffer.from(bytes).toString('hex');
    let at = placed.get(key);
    if (at === undefined) {
      at = next;
      next += bytes.length;
      if (next > STRINGS_END) throw new Error(`${name}.wat: constants overflow the string area`);
      placed.set(key, at);
      segments.push(`(data (i32.const ${at}) "${key.replace(/../g, '\\$&')}")`);
    }
    return `(i32.const ${at}) (i32.const ${bytes.length})`;
  };
  let out = source.replace(/\(str\s+"((?:[^"\\]|\\.)*)"\s*\)/g, (_m, body: string) => place(decodeWatString(body)));
  out = out.replace(/\(pairs((?:\s+"(?:[^"\\]|\\.)*")*)\s*\)/g, (_m, list: string) => {
    const strings = [...list.matchAll(STRING_LITERAL)].map((m) => decodeWatString(m[1]!));
    if (strings.length % 2 !== 0) throw new Error(`${name}.wat: (pairs ...) needs key/value pairs`);
    const pairs: Array<[Uint8Array, Uint8Array]> = [];
    for (let i = 0; i < strings.length; i += 2) pairs.push([strings[i]!, strings[i + 1]!]);
    return place(encodePairs(pairs));
  });
  if (/\((str|pairs)\b/.test(out)) throw new Error(`${name}.wat: a (str ...) or (pairs ...) form was not understood`);
  const end = out.lastIndexOf(')');
  if (end < 0 || out.slice(end + 1).trim() !== '') throw new Error(`${name}.wat: must end with the module's closing parenthesis`);
  return out.slice(0, end) + segments.join('\n') + '\n)\n';
}

let wabtModule: ReturnType<typeof wabtInit> | undefined;
const compiled = new Map<string, Promise<Uint8Array>>();

async function compileWat(name: FixtureNameArg, opts: WasmFixtureOptions): Promise<Uint8Array> {
  const source = expandFixtureSource(name, opts);
  const wabt = await (wabtModule ??= wabtInit());
  const module = wabt.parseWat(`${name}.wat`, source);
  try {
    module.resolveNames();
    module.validate();
    return module.toBinary({ write_debug_names: true }).buffer;
  } finally {
    module.destroy();
  }
}

/** The compiled binary of test/fixtures/wasm/<name>.wat (a fresh copy; compiled once per process). */
export async function wasmFixture(name: FixtureNameArg, opts: WasmFixtureOptions = {}): Promise<Uint8Array<ArrayBuffer>> {
  const key = `${name}@${opts.marker ?? ''}`;
  let pending = compiled.get(key);
  if (!pending) {
    pending = compileWat(name, opts);
    compiled.set(key, pending);
    pending.catch(() => compiled.delete(key));
  }
  return new Uint8Array(await pending);
}

const run = promisify(execFile);
let asBuild: Promise<void> | undefined;

/** Runs the AssemblyScript build (a no-op when its outputs are up to date); once per process. */
export function ensureAsFixturesBuilt(): Promise<void> {
  asBuild ??= run(process.execPath, [BUILD_SCRIPT], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 })
    .then(() => undefined)
    .catch((err: Error & { stdout?: string; stderr?: string }) => {
      asBuild = undefined;
      throw new Error(`AssemblyScript fixture build failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    });
  return asBuild;
}

/** An AssemblyScript-built plugin (see AS_FIXTURES for the root id it registers). */
export async function asFixture(name: AsFixtureName): Promise<Uint8Array<ArrayBuffer>> {
  if (!(name in AS_FIXTURES)) throw new Error(`no AssemblyScript fixture "${name}"`);
  await ensureAsFixturesBuilt();
  return new Uint8Array(readFileSync(join(AS_BUILD_DIR, `${name}.wasm`)));
}
