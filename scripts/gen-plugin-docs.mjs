// Writes the generated part of docs/plugins/<name>.md for every built-in plugin, from the
// compiled registry (run `npm run build` first, or `npm run docs:plugins`). A missing
// page is created with TODOs for the hand-written description and example, which the
// docs test refuses until they are written.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { PluginRegistry } = await import(join(root, 'dist/src/plugin-runtime/registry.js'));
const { updatePage, updateIndex } = await import(join(root, 'dist/src/docs/plugin-docs.js'));

const registry = await PluginRegistry.load();
let changed = 0;
for (const { plugin } of registry.list()) {
  const file = join(root, 'docs', 'plugins', `${plugin.name}.md`);
  const before = await readFile(file, 'utf8').catch(() => undefined);
  const after = updatePage(before, plugin);
  if (after === before) continue;
  await writeFile(file, after);
  changed++;
  console.log(`${before === undefined ? 'created' : 'updated'} ${file}`);
}
// the index: every plugin, in execution order, with the first sentence of its page
const indexFile = join(root, 'docs', 'plugins', 'README.md');
const pages = [];
for (const { plugin } of registry.list()) pages.push({ plugin, page: await readFile(join(root, 'docs', 'plugins', `${plugin.name}.md`), 'utf8') });
const indexBefore = await readFile(indexFile, 'utf8');
const indexAfter = updateIndex(indexBefore, pages);
if (indexAfter !== indexBefore) {
  await writeFile(indexFile, indexAfter);
  changed++;
  console.log(`updated ${indexFile}`);
}
console.log(`${changed} page(s) written, ${registry.list().length} built-in plugins`);
