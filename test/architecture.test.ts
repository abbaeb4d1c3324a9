import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The layering DESIGN.md §4b asks for, checked on the sources: dependencies point one
// way (contracts ← core ← config-store, observability, counters ← plugin-runtime ←
// data-plane ← process, admin-api, cli), with no import cycle — type-only imports
// included — and no test code under src/ outside *.test.ts files.

const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const SRC = join(ROOT, 'src');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.bench.ts')) out.push(p);
  }
  return out;
}

const IMPORT = /(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = (m[1] ?? m[2])!;
    out.push(normalize(join(dirname(file), spec.replace(/\.js$/, '.ts'))));
  }
  return out;
}

const files = sources(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const area = (f: string): string => relative(SRC, f).split('/')[0]!;

/** Which top-level folders each folder may import from (itself always). */
const ALLOWED: Record<string, readonly string[]> = {
  contracts: [],
  core: ['contracts'],
  'config-store': ['contracts', 'core', 'plugin-runtime'],
  observability: ['contracts', 'core'],
  counters: ['contracts', 'core'],
  'plugin-runtime': ['contracts', 'core', 'observability', 'counters', 'config-store'],
  plugins: ['contracts', 'core', 'observability', 'counters', 'plugin-runtime', 'serverless', 'oidc', 'waf', 'proxy-cache', 'ai'],
  'data-plane': ['contracts', 'core', 'observability', 'counters', 'plugin-runtime', 'config-store'],
  cluster: ['contracts', 'core', 'config-store'],
  discovery: ['contracts', 'core'],
  process: ['contracts', 'core', 'observability', 'counters', 'plugin-runtime', 'config-store', 'data-plane', 'admin-api', 'plugins',
    'serverless', 'secrets', 'examples', 'wasm-host', 'cluster', 'proxy-cache', 'ai', 'discovery'],
  'admin-api': ['contracts', 'core', 'observability', 'plugin-runtime', 'config-store', 'data-plane', 'secrets', 'wasm-host', 'cluster'],
  cli: ['contracts', 'core', 'config-store', 'process', 'admin-api', 'plugin-runtime', 'wasm-host'],
  serverless: ['contracts', 'core'],
  oidc: ['contracts', 'core', 'observability'],
  waf: ['contracts', 'core'],
  'proxy-cache': ['contracts', 'core'],
  ai: ['contracts', 'core', 'observability', 'counters'],
  'wasm-host': ['contracts', 'core', 'observability', 'plugin-runtime'],
  secrets: ['contracts', 'core', 'config-store'],
  examples: ['contracts', 'core'],
  docs: ['contracts', 'core', 'plugin-runtime'],
};

test('each folder imports only from the layers below it', () => {
  const bad: string[] = [];
  for (const [file, deps] of graph) {
    const from = area(file);
    const allowed = ALLOWED[from];
    if (allowed === undefined) {
      bad.push(`${relative(ROOT, file)}: src/${from}/ has no place in the layering (add it to ALLOWED)`);
      continue;
    }
    for (const d of deps) {
      const to = area(d);
      if (to !== from && !allowed.includes(to)) bad.push(`${relative(ROOT, file)} → ${relative(ROOT, d)}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('there is no import cycle among the sources (type imports included)', () => {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let n = 0;
  const visit = (v: string): void => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(relative(ROOT, w));
      } while (w !== v);
      if (comp.length > 1) cycles.push(comp.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});

test('no test helper or fixture under src/ outside *.test.ts files', () => {
  const bad = files.filter((f) => importsOf(f).some((d) => relative(ROOT, d).startsWith('test/')));
  assert.deepEqual(bad.map((f) => relative(ROOT, f)), []);
});
