// Builds the AssemblyScript proxy-wasm fixtures with this project's own asc
// (devDependencies assemblyscript@0.14.13 + @solo-io/proxy-runtime@0.1.8) into the git-ignored
// test/fixtures/wasm/build/. `npm test` runs it first (package.json pretest), and
// test/helpers/wasm-fixtures.ts runs it on demand when a test asks for an AS fixture.
//
// A plugin is rebuilt only when its stamp (a hash of its source, the compiler and runtime
// versions and the compiler flags) differs from build/<name>.stamp, so an up-to-date run costs a
// few file reads. Outputs are written to a temporary name and renamed, so two test processes
// building at once cannot leave a half-written binary.
//
// Plugins: as-add-header (the SDK README's own sample, cut from the installed package) and every
// test/fixtures/wasm/as/<name>.ts.
//   node scripts/build-wasm-fixtures.mjs          build what is stale; prints one line per plugin
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'wasm');
const BUILD = join(FIXTURES, 'build');
const SOURCES = join(BUILD, 'src');
const ASC = join(ROOT, 'node_modules', 'assemblyscript', 'bin', 'asc');
const RUNTIME = join(ROOT, 'node_modules', '@solo-io', 'proxy-runtime');
// abort=abort_proc_exit routes AssemblyScript's abort() to wasi proc_exit, as the SDK's docs ask.
const ASC_FLAGS = ['--use', 'abort=abort_proc_exit', '--optimize'];

function installedVersion(dir) {
  const path = join(dir, 'package.json');
  if (!existsSync(path)) throw new Error(`${path} is missing: run npm ci (the AS fixtures need the devDependencies)`);
  return JSON.parse(readFileSync(path, 'utf8')).version;
}

// The first ```ts block of the runtime's README is its "add header" sample.
function readmeSample() {
  const readme = readFileSync(join(RUNTIME, 'README.md'), 'utf8').split('\n');
  const start = readme.indexOf('```ts');
  const end = readme.indexOf('```', start + 1);
  if (start < 0 || end < 0) throw new Error('no ```ts sample in @solo-io/proxy-runtime README.md');
  return readme.slice(start + 1, end).join('\n') + '\n';
}

function plugins() {
  const own = readdirSync(join(FIXTURES, 'as'))
    .filter((f) => f.endsWith('.ts'))
    .sort()
    .map((f) => ({ name: basename(f, '.ts'), source: readFileSync(join(FIXTURES, 'as', f), 'utf8') }));
  return [{ name: 'as-add-header', source: readmeSample() }, ...own];
}

function writeAtomically(path, data) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function build() {
  const versions = `assemblyscript@${installedVersion(join(ROOT, 'node_modules', 'assemblyscript'))} ` +
    `@solo-io/proxy-runtime@${installedVersion(RUNTIME)}`;
  mkdirSync(SOURCES, { recursive: true });
  let failed = false;
  for (const { name, source } of plugins()) {
    const stamp = createHash('sha256').update(`${versions}\n${ASC_FLAGS.join(' ')}\n${source}`).digest('hex');
    const output = join(BUILD, `${name}.wasm`);
    const stampFile = join(BUILD, `${name}.stamp`);
    if (existsSync(output) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
      console.log(`${name}: up to date`);
      continue;
    }
    // asc finds @solo-io/proxy-runtime through the node_modules above the source file
    const sourceFile = join(SOURCES, `${name}.ts`);
    writeAtomically(sourceFile, source);
    const tmpOutput = `${output}.${process.pid}.tmp`;
    const started = process.hrtime.bigint();
    const asc = spawnSync(process.execPath, [ASC, sourceFile, '-b', tmpOutput, ...ASC_FLAGS], { cwd: ROOT, encoding: 'utf8' });
    if (asc.status !== 0 || !existsSync(tmpOutput)) {
      rmSync(tmpOutput, { force: true });
      console.error(`${name}: asc failed (exit ${asc.status})\n${asc.stdout}${asc.stderr}`);
      failed = true;
      continue;
    }
    renameSync(tmpOutput, output);
    writeAtomically(stampFile, stamp);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(`${name}: built in ${seconds.toFixed(1)} s (${versions})`);
  }
  return !failed;
}

process.exit(build() ? 0 : 1);
