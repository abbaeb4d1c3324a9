// The metrics page in cluster mode: two gateway nodes on one real etcd; the node health
// section lists both nodes from the directory, the answering one marked.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { startEtcd, type EtcdServer } from '../../helpers/etcd-server.js';
import { eventually, startGateway, type Gateway } from '../../helpers/gateway.js';
import { get } from '../../helpers/http.js';
import { launchBrowser, openPage } from '../../helpers/browser.js';
import { signIn } from '../../helpers/dashboard.js';

const KEY = 'admin-key-0123456789';

describe('the metrics page lists the cluster\'s nodes', { timeout: 60_000 }, () => {
  let etcd: EtcdServer;
  const nodes: Gateway[] = [];
  let browser: Browser;

  before(async () => {
    [etcd, browser] = await Promise.all([startEtcd(), launchBrowser()]);
    const options = {
      adminKeys: [{ name: 'ops', key: KEY, role: 'admin' as const }],
      extra: { store: { type: 'etcd', etcd: { endpoints: [etcd.endpoint], prefix: '/gatehouse-ui', timeout: 2 } } },
    };
    nodes.push(...await Promise.all([startGateway(options), startGateway(options)]));
    // Both nodes registered before the page looks.
    await eventually(async () => {
      const r = await get(`${nodes[0]!.adminUrl}/cluster/nodes`, { headers: { 'x-api-key': KEY } });
      return r.status === 200 && r.json().total === 2;
    }, 100, 100);
  });
  after(async () => {
    await browser?.close();
    for (const gw of nodes) {
      await gw.stop().catch(() => undefined);
      await rm(gw.dir, { recursive: true, force: true });
    }
    await etcd?.cleanup();
  });

  test('both nodes, with store, applied revision and lag; this node marked', async () => {
    const { page, cspViolations } = await openPage(browser);
    await signIn(page, new URL(nodes[0]!.adminUrl).origin, KEY);
    await page.getByRole('link', { name: 'Metrics' }).click();
    await page.getByRole('heading', { name: 'Cluster nodes' }).waitFor();
    const rows = page.locator('.cluster-nodes tr[data-node]');
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);
    const cells = await rows.evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    assert.equal(cells.filter((c) => c[0]!.endsWith('(this node)')).length, 1, JSON.stringify(cells));
    for (const c of cells) {
      assert.equal(c[3], 'etcd');
      assert.match(c[5]!, /^\d+$/);
    }
    assert.deepEqual(cspViolations(), []);
  });
});
