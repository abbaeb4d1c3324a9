import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLikeNpmStart, type NpmStarted } from '../../helpers/npm-start.js';
import { checkAnswers, codeBlocks, runCommands, splitCommands, substitute } from '../../helpers/shell-example.js';

// A new user's first minutes: `npm install && npm start`, then README's Example commands,
// run as written (only the addresses are moved to free ports).

const ROOT = resolve(fileURLToPath(new URL('../../../../', import.meta.url)));

test('npm start on a fresh clone: README Example commands answer as the README says', async () => {
  let gw: NpmStarted | undefined;
  try {
    gw = await startLikeNpmStart();
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const [block] = codeBlocks(readme, 'sh', '## Example');
    assert.ok(block !== undefined, 'README has an sh block under "## Example"');
    const commands = splitCommands(substitute(block, gw.addresses));
    assert.ok(commands.length >= 6, `README Example has its ${commands.length} commands`);
    const results = await runCommands(commands, { cwd: gw.dir, readyUrl: `http://127.0.0.1:${gw.adminPort}/status/ready` });
    checkAnswers(results, 'README Example');

    // the first curl: /hello of the seed, proxied to the example echo upstream
    const hello = results[0]!;
    assert.match(hello.text, /\/hello$/);
    assert.equal(hello.status, 200);
    const echoed = JSON.parse(hello.body) as { method: string; path: string; headers: Record<string, string> };
    assert.equal(echoed.method, 'GET');
    assert.equal(echoed.path, '/hello');
    assert.equal(echoed.headers['user-agent']?.startsWith('curl/'), true);

    // the last: the consumer's key reached the upstream through key-auth
    const last = results.at(-1)!;
    assert.equal(last.status, 200);
    assert.equal((JSON.parse(last.body) as { path: string }).path, '/get');
    assert.match(gw.output(), /example echo upstream started/);
  } finally {
    await gw?.stop();
  }
});

test('without examples.echo_upstream the seed routes have no upstream (the block is what makes /hello answer)', async () => {
  let gw: NpmStarted | undefined;
  try {
    gw = await startLikeNpmStart((config) => { delete config.examples; });
    const res = await fetch(`http://127.0.0.1:${gw.gatewayPort}/hello`);
    assert.equal(res.status, 502);
    await res.arrayBuffer();
    assert.doesNotMatch(gw.output(), /example echo upstream started/);
  } finally {
    await gw?.stop();
  }
});
