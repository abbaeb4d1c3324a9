// Runs every compiled test file with node:test. Node 20's `--test` takes no globs,
// so the files are listed here. --no-node-snapshot is isolated-vm's requirement on Node 20+
// (the serverless isolate); node --test passes it on to every test process. Pass paths or substrings to run a subset:
//   npm test -- router      (files whose path contains "router")
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir, out) {
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = [...collect('dist/src', []), ...collect('dist/test', []), ...collect('dist/bench', [])]
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--no-node-snapshot', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
