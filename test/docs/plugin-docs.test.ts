import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluginRegistry } from '../../src/plugin-runtime/registry.js';
import { validateResource } from '../../src/config-store/validate.js';
import { compileExpr } from '../../src/core/expr/index.js';
import type { ResourceKind } from '../../src/contracts/resources.js';
import {
  BEGIN_MARKER, END_MARKER, fieldTable, generatedPart, renderGenerated, summaryOf, updateIndex, updatePage,
} from '../../src/docs/plugin-docs.js';
import type { Plugin } from '../../src/contracts/plugin.js';
import { adminWrites, codeBlocks, splitCommands, substitute, type AdminWrite } from '../helpers/shell-example.js';
import { docsGeoDbs } from '../fixtures/geo-dbs.js';

// docs/plugins/<name>.md stays true: one page per built-in plugin, its generated part as
// the code renders it now (`npm run docs:plugins` rewrites it), a hand-written
// description and an example whose Admin API bodies the gateway accepts. The examples
// are also run against a real gateway: test/integration/docs/plugin-examples.test.ts.

const DOCS = join(resolve(fileURLToPath(new URL('../../../', import.meta.url))), 'docs', 'plugins');

/** `routes/1` → routes; `consumers/jack/credentials/c` → credentials; `plugin_metadata/x` → plugin_metadata. */
function kindOf(path: string): ResourceKind {
  const segs = path.split('/');
  if (segs[0] === 'consumers' && segs[2] === 'credentials') return 'credentials' as ResourceKind;
  return segs[0] as ResourceKind;
}

function validateWrite(registry: PluginRegistry, w: AdminWrite): void {
  const kind = kindOf(w.path);
  // the Admin API takes a metadata object's id (the plugin name) from the path
  const body = kind === 'plugin_metadata' ? { ...w.body, id: w.path.split('/')[1] } : w.body;
  validateResource(kind, structuredClone(body), {
    checkPlugins: (plugins, where) => registry.checkPlugins(plugins, where),
    checkMetadata: (name, value) => registry.checkMetadata(name, value),
    checkExpr: (rule) => { compileExpr(rule); },
  });
}

/** The plugin names an Admin API write configures. */
function pluginsConfigured(w: AdminWrite): string[] {
  if (kindOf(w.path) === 'plugin_metadata') return [w.path.split('/')[1]!];
  return Object.keys((w.body.plugins ?? {}) as Record<string, unknown>);
}

describe('docs/plugins', () => {
  let registry: PluginRegistry;
  let pages: Map<string, string>;
  /** Files examples name, mapped to the test's own (geo-ip's databases). */
  let files: Record<string, string>;
  before(async () => {
    files = await docsGeoDbs(await mkdtemp(join(tmpdir(), 'gatehouse-docs-geo-')));
    registry = await PluginRegistry.load();
    pages = new Map();
    for (const f of await readdir(DOCS)) if (f.endsWith('.md')) pages.set(f.slice(0, -3), await readFile(join(DOCS, f), 'utf8'));
  });

  it('has a page for every built-in plugin, and no generated page for a plugin that does not exist', () => {
    const builtins = registry.list().map((lp) => lp.plugin.name);
    assert.ok(builtins.length >= 21);
    const missing = builtins.filter((n) => !pages.has(n));
    assert.deepEqual(missing, [], `no docs/plugins/<name>.md for ${missing.join(', ')}: run npm run docs:plugins, then write the description and example`);
    for (const [name, page] of pages) {
      if (page.includes(BEGIN_MARKER)) assert.ok(registry.has(name), `docs/plugins/${name}.md describes no built-in plugin`);
    }
  });

  it('has each page\'s generated part as the plugin\'s code renders it today', () => {
    for (const lp of registry.list()) {
      const page = pages.get(lp.plugin.name)!;
      const current = generatedPart(page);
      assert.ok(current !== undefined, `${lp.plugin.name}.md has no ${BEGIN_MARKER} ... ${END_MARKER} section`);
      assert.equal(current, renderGenerated(lp.plugin), `${lp.plugin.name}.md is out of date with the plugin: run npm run docs:plugins`);
    }
  });

  it('has a hand-written description and an example section on every page, no TODO left', () => {
    for (const lp of registry.list()) {
      const name = lp.plugin.name;
      const page = pages.get(name)!;
      assert.ok(!/\bTODO\b/.test(page), `${name}.md still has a TODO`);
      assert.ok(page.startsWith(`# ${name}\n`), `${name}.md starts with "# ${name}"`);
      const description = page.slice(name.length + 3, page.indexOf(BEGIN_MARKER)).trim();
      assert.ok(description.length >= 80, `${name}.md has no description before the generated part`);
      assert.ok(codeBlocks(page, 'sh', '## Example').length >= 1, `${name}.md has no sh block under "## Example"`);
    }
  });

  it('has examples whose Admin API bodies the gateway accepts and which configure the page\'s plugin', () => {
    for (const lp of registry.list()) {
      const name = lp.plugin.name;
      const writes = codeBlocks(substitute(pages.get(name)!, files), 'sh', '## Example').flatMap((b) => adminWrites(splitCommands(b)));
      assert.ok(writes.length >= 1, `${name}.md: the example makes no Admin API write`);
      for (const w of writes) {
        try {
          validateWrite(registry, w);
        } catch (e) {
          assert.fail(`${name}.md: ${w.method} ${w.path} is refused: ${(e as Error).message}`);
        }
      }
      assert.ok(writes.some((w) => pluginsConfigured(w).includes(name)), `${name}.md: no example configures ${name}`);
    }
  });

  it('has the index (docs/plugins/README.md) listing every plugin as the pages say today', () => {
    const index = pages.get('README')!;
    const entries = registry.list().map((lp) => ({ plugin: lp.plugin, page: pages.get(lp.plugin.name)! }));
    assert.equal(index, updateIndex(index, entries), 'docs/plugins/README.md is out of date: run npm run docs:plugins');
    for (const { plugin } of entries) assert.ok(index.includes(`[${plugin.name}](${plugin.name}.md)`));
  });

  it('would refuse an example that does not match the plugin\'s schema', () => {
    const bad: AdminWrite = { method: 'PUT', path: 'routes/1', body: { uri: '/x', plugins: { 'limit-count': { count: 'ten' } }, upstream: { nodes: { '127.0.0.1:1980': 1 } } } };
    assert.throws(() => validateWrite(registry, bad), /limit-count/);
  });
});

describe('plugin page generator', () => {
  const plugin = {
    name: 'demo', version: '0.1', stage: 'default', priority: 7, type: 'auth',
    schema: {
      type: 'object',
      properties: {
        mode: { enum: ['a', 'b'], default: 'a' },
        limits: { type: 'array', minItems: 1, items: { type: 'object', properties: { n: { type: 'integer', minimum: 1 } }, required: ['n'] } },
        pattern: { type: 'string', pattern: '^(x|y)$', description: 'one | two' },
      },
      required: ['limits'],
    },
  } as unknown as Plugin;

  it('renders fields, nesting, defaults and constraints as a table, pipes escaped', () => {
    assert.equal(fieldTable(plugin.schema as Record<string, unknown>), [
      '| field | type | required | default | valid values | description |',
      '|---|---|---|---|---|---|',
      '| `mode` | `"a"` \\| `"b"` |  | `"a"` |  |  |',
      '| `limits` | array of object | yes |  | items ≥ 1 |  |',
      '| `limits[].n` | integer | yes |  | ≥ 1 |  |',
      '| `pattern` | string |  |  | matches `^(x\\|y)$` | one \\| two |',
      '',
    ].join('\n'));
  });

  it('replaces only the generated part of a page, and starts a missing page with TODOs', () => {
    const page = `# demo\n\nHand-written.\n\n${BEGIN_MARKER}\nstale\n${END_MARKER}\n\n## Example\nkept\n`;
    const updated = updatePage(page, plugin);
    assert.equal(generatedPart(updated), renderGenerated(plugin));
    assert.ok(updated.startsWith('# demo\n\nHand-written.\n\n') && updated.endsWith('\n\n## Example\nkept\n'));
    assert.match(updatePage(undefined, plugin), /^# demo\n\nTODO[\s\S]*## Example\n\nTODO/);
    assert.throws(() => updatePage('# demo\nno markers\n', plugin), /no generated section/);
  });

  it('summarises a page by the first sentence of its description, ignoring dots in code and parentheses', () => {
    assert.equal(summaryOf(`# x\n\nDoes \`a.b\` things (e.g. this: that). More.\n\n${BEGIN_MARKER}`), 'Does `a.b` things (e.g. this: that).');
    assert.equal(summaryOf(`# x\n\nChanges the request: more.\n${BEGIN_MARKER}`), 'Changes the request.');
  });
});
