import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluginRegistry } from '../../../src/plugin-runtime/registry.js';
import { startLikeNpmStart, type NpmStarted } from '../../helpers/npm-start.js';
import { checkAnswers, codeBlocks, runCommands, splitCommands, substitute } from '../../helpers/shell-example.js';
import { startRedis, type TestRedis } from '../../helpers/redis-server.js';
import { docsGeoDbs } from '../../fixtures/geo-dbs.js';
import { startFakeLlm, type FakeLlm } from '../../helpers/fake-llm.js';

// Every docs/plugins/<name>.md example, run as written against the gateway `npm start`
// runs (its echo upstream included), on free ports: each command must answer the status
// its comment announces (`# 401 ...`), the others 2xx. The limit plugins' Redis examples
// count in a real Redis, whose port replaces the documented 6379; geo-ip's MaxMind
// databases are small ones the test builds, in place of the documented paths; the AI
// plugins' model server (documented as a local one on 127.0.0.1:11434) is a fake provider.

const DOCS = join(resolve(fileURLToPath(new URL('../../../../', import.meta.url))), 'docs', 'plugins');

test('the example of every plugin page works as the page says', async () => {
  let gw: NpmStarted | undefined;
  let redis: TestRedis | undefined;
  let llm: FakeLlm | undefined;
  try {
    redis = await startRedis();
    llm = await startFakeLlm();
    gw = await startLikeNpmStart((config) => { config.node.workers = 1; });
    const addresses = {
      ...gw.addresses,
      ...await docsGeoDbs(gw.dir),
      '"redis_port": 6379': `"redis_port": ${redis.port}`,
      '"service_port": 6379': `"service_port": ${redis.port}`,
      '"servicePort": 6379': `"servicePort": ${redis.port}`,
      '127.0.0.1:11434': `127.0.0.1:${llm.port}`,
      // ai-network-search's engines name a host and a port apart: its example searches the gateway's own mocking route
      '"servicePort": 9080': `"servicePort": ${gw.gatewayPort}`,
    };
    const registry = await PluginRegistry.load();
    let ran = 0;
    for (const { plugin } of registry.list()) {
      const page = await readFile(join(DOCS, `${plugin.name}.md`), 'utf8');
      for (const block of codeBlocks(page, 'sh', '## Example')) {
        const commands = splitCommands(substitute(block, addresses));
        const results = await runCommands(commands, { cwd: gw.dir, readyUrl: `http://127.0.0.1:${gw.adminPort}/status/ready` });
        checkAnswers(results, `docs/plugins/${plugin.name}.md`);
        ran += results.filter((r) => r.expectedStatus !== undefined).length;
      }
    }
    assert.ok(ran >= registry.list().length, `only ${ran} documented answers were checked`);
  } finally {
    await gw?.stop();
    await redis?.close();
    await llm?.close();
  }
});
