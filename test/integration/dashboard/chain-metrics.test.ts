// The live metrics page and the plugin chain view in a real browser against a real
// gateway: traffic moving the rate and status numbers, the node's workers; a route whose
// plugins come from a global rule, the route and a plugin config, in the inspector's
// order with their sources and measured cost; a disabled plugin and one a sample
// request's filter excludes greyed. No CSP violation anywhere.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { get } from '../../helpers/http.js';
import { adminCall, signIn } from '../../helpers/dashboard.js';
import { BROWSER_TIMEOUT_MS, launchBrowser, openPage, screenshot, type TrackedPage } from '../../helpers/browser.js';

const ADMIN = 'admin-key-0123456789';
const WORKERS = 2;

/** An Admin API call that must succeed; its body. */
async function configure(gw: Gateway, method: string, path: string, body?: unknown): Promise<any> {
  const r = await adminCall(gw, ADMIN, method, path, body);
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** `[plugin, origin, skipped]` of every plugin box of a lane, in page order. */
function laneBoxes(page: Page, lane: string): Promise<string[][]> {
  return page.getByRole('list', { name: lane, exact: true }).locator('.chain-plugin')
    .evaluateAll((boxes) => boxes.map((b) => [b.getAttribute('data-plugin')!, b.getAttribute('data-origin')!, b.getAttribute('data-skipped') ?? '']));
}

/** The same from the inspector's answer. */
function expectedBoxes(report: { phases: { phase: string; plugins: { name: string; origin: string; skipped?: string }[] }[] }, side: 'request' | 'response'): string[][] {
  const requestSide = ['preflight', 'rewrite', 'access', 'before_proxy'];
  return report.phases.filter((s) => requestSide.includes(s.phase) === (side === 'request'))
    .flatMap((s) => s.plugins.map((p) => [p.name, p.origin, p.skipped ?? '']));
}

const statOf = async (page: Page, stat: string): Promise<number> => Number(await page.locator(`[data-stat="${stat}"]`).textContent());

describe('the plugin chain view and live metrics in a browser', { timeout: 60_000 }, () => {
  let gw: Gateway;
  let up: TestUpstream;
  let origin: string;
  let browser: Browser;
  let admin: TrackedPage;

  before(async () => {
    up = await startUpstream('chain');
    [gw, browser] = await Promise.all([
      startGateway({ store: 'sqlite', workers: WORKERS, adminKeys: [{ name: 'ops', key: ADMIN, role: 'admin' }] }),
      launchBrowser(),
    ]);
    origin = new URL(gw.adminUrl).origin;
    const upstream = { type: 'roundrobin', nodes: { [`127.0.0.1:${up.port}`]: 1 } };
    await configure(gw, 'PUT', '/global_rules/g1', { plugins: { prometheus: {}, 'request-id': {} } });
    await configure(gw, 'PUT', '/plugin_configs/pc1', { plugins: { 'response-rewrite': { headers: { set: { 'x-from': 'pc1' } } } } });
    await configure(gw, 'PUT', '/routes/r1', {
      name: 'orders', uri: '/orders', upstream, plugin_config_id: 'pc1',
      plugins: {
        'proxy-rewrite': { headers: { set: { 'x-via': 'gatehouse' } } },
        'fault-injection': { abort: { http_status: 418 }, _meta: { disable: true } },
        cors: { _meta: { filter: [['arg_cors', '==', 'on']] } },
      },
    });
    await configure(gw, 'PUT', '/consumers', { username: 'alice', plugins: { 'key-auth': { key: 'alice-key' }, 'limit-count': { count: 100, time_window: 60 } } });
    await configure(gw, 'PUT', '/routes/r3', { name: 'members', uri: '/members', plugins: { 'key-auth': {} }, upstream });
    await configure(gw, 'PUT', '/routes/r2', { uri: '/down', plugins: { 'fault-injection': { abort: { http_status: 503 } } }, upstream });
    admin = await openPage(browser);
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
    await up?.close();
  });

  test('live metrics: traffic moves requests/s and the status mix; per-route latency and plugin cost; the workers', async () => {
    const { page } = admin;
    await signIn(page, origin, ADMIN);
    await page.getByRole('link', { name: 'Metrics' }).click();
    await page.getByRole('heading', { name: 'Live metrics' }).waitFor();
    await page.getByText('No route has metrics yet').waitFor();
    assert.equal(await page.locator('.workers tr[data-worker]').count(), WORKERS);
    await page.getByText('Ready', { exact: true }).waitFor();
    // The first interval needs two summaries (one poll every 3 s).
    await page.locator('[data-stat="rps"]').waitFor({ timeout: BROWSER_TIMEOUT_MS });
    assert.equal(await statOf(page, 'rps'), 0);

    // 200 requests, three to the route for one to the failing one, 10 at a time.
    for (let i = 0; i < 20; i++) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => get(`${gw.url}${(i * 10 + j) % 4 === 3 ? '/down' : '/orders'}`)));
    }
    await page.waitForFunction(() => {
      const n = (s: string): number => Number(document.querySelector(`[data-stat="${s}"]`)?.textContent ?? '0');
      return n('rps') > 0 && n('2xx') > 0 && n('5xx') > 0;
    }, undefined, { timeout: BROWSER_TIMEOUT_MS, polling: 200 });
    assert.ok(await statOf(page, '2xx') > await statOf(page, '5xx'));
    assert.ok(Number(await page.locator('tr[data-route="r1"] [data-col="rps"]').textContent()) > 0);
    await page.locator('tr[data-plugin-phase^="proxy-rewrite/"]').first().waitFor();
    assert.equal(await page.locator('.chart canvas').count() >= 4, true);
    assert.equal(await page.getByText('No route has metrics yet').count(), 0);
    await screenshot(page, 'metrics');
    assert.deepEqual(admin.cspViolations(), []);
  });

  test('the chain view: every plugin in the inspector\'s order with its source; a disabled one greyed with the reason', async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Plugin chains' }).click();
    await page.locator('tr[data-route="r1"]').getByRole('link', { name: 'Plugin chain' }).click();
    await page.getByRole('heading', { name: 'Plugin chain of route orders' }).waitFor();
    assert.match(page.url(), /#\/routes\/r1\/chain$/);

    const report = await configure(gw, 'GET', '/routes/r1/plugin-chain');
    await page.locator('.chain-plugin').first().waitFor();
    const request = await laneBoxes(page, 'Request');
    assert.deepEqual(request, expectedBoxes(report, 'request'));
    assert.deepEqual(await laneBoxes(page, 'Response'), expectedBoxes(report, 'response'));
    const origins = new Map([...request, ...await laneBoxes(page, 'Response')].map(([name, from]) => [name, from]));
    assert.equal(origins.get('request-id'), 'global_rule');
    assert.equal(origins.get('proxy-rewrite'), 'route');
    assert.equal(origins.get('response-rewrite'), 'plugin_config');
    // The global rules' chain runs before the route's on the way in.
    assert.ok(request.findIndex(([n]) => n === 'request-id') < request.findIndex(([n]) => n === 'proxy-rewrite'), JSON.stringify(request));

    const disabled = page.locator('.chain-plugin[data-plugin="fault-injection"]').first();
    assert.match(await disabled.getAttribute('class') ?? '', /is-skipped/);
    await disabled.getByText('disabled (_meta.disable)').waitFor();
    const proxyRewrite = page.locator('.chain-plugin[data-plugin="proxy-rewrite"]').first();
    await proxyRewrite.getByText('route r1').waitFor();
    const declared = report.plugins.find((p: { name: string }) => p.name === 'proxy-rewrite');
    await proxyRewrite.getByText(`priority ${declared.priority}`).waitFor();
    // The traffic of the metrics test was measured: each box shows its cost in that phase.
    await proxyRewrite.getByText(/µs mean, [\d.]+ µs p99/).waitFor();
  });

  test('try a request: a filter that excludes a plugin greys it; one that admits it does not', async () => {
    const { page } = admin;
    const cors = page.locator('.chain-plugin[data-plugin="cors"]').first();
    assert.equal(await cors.getAttribute('data-skipped'), null);
    const form = page.getByRole('form', { name: 'Try a request' });
    await form.getByLabel('Method').selectOption('POST');
    await form.getByLabel('Path').fill('/orders?cors=off');
    await form.getByLabel('Headers').fill('Origin: https://shop.example\nnot a header');
    await form.getByRole('button', { name: 'Evaluate' }).click();
    await form.getByText('Not a header (Name: value): not a header').waitFor();
    await form.getByLabel('Headers').fill('Origin: https://shop.example');
    await form.getByRole('button', { name: 'Evaluate' }).click();
    await form.getByRole('status').getByText('POST /orders matches this route.').waitFor();
    await page.locator('.chain-plugin[data-plugin="cors"][data-skipped="filter"]').first().getByText('filtered out for this request').waitFor();
    await screenshot(page, 'plugin-chain');
    await form.getByLabel('Path').fill('/orders?cors=on');
    await form.getByRole('button', { name: 'Evaluate' }).click();
    await page.locator('.chain-plugin[data-plugin="cors"][data-skipped]').first().waitFor({ state: 'detached' });
    await form.getByRole('status').getByText('POST /orders matches this route.').waitFor();
    await form.getByLabel('Path').fill('no-slash');
    await form.getByRole('button', { name: 'Evaluate' }).click();
    await form.locator('[data-field="try-path"] .field-error').getByText('"path" must start with /').waitFor();
      assert.deepEqual(admin.cspViolations(), []);
    // The one console error is the browser's note of the 400 the bad path drew on purpose.
    assert.deepEqual(admin.errors.filter((e) => !/status of 400/.test(e)), []);
  });

  test('try a request as a consumer: the consumer\'s plugins join the chain when its auth plugin runs', async () => {
    const { page } = admin;
    await page.goto(`${origin}/ui/#/routes/r3/chain`);
    await page.getByRole('heading', { name: 'Plugin chain of route members' }).waitFor();
    assert.equal(await page.locator('.chain-plugin[data-origin="consumer"]').count(), 0);
    const form = page.getByRole('form', { name: 'Try a request' });
    await form.getByLabel('Path').fill('/members');
    await form.getByLabel('Consumer').fill('alice');
    await form.getByLabel('Consumer').press('Enter');
    await form.getByRole('status').getByText('Consumer alice is attached.').waitFor();
    await page.locator('.chain-plugin[data-plugin="limit-count"][data-origin="consumer"]').first().getByText('consumer alice').waitFor();
    await form.getByRole('button', { name: 'Clear' }).click();
    await page.locator('.chain-plugin[data-origin="consumer"]').first().waitFor({ state: 'detached' });
    assert.deepEqual(admin.cspViolations(), []);
  });

  test('the marketplace cards carry the built-ins\' one-line descriptions and where they are bound', async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Plugins' }).click();
    await page.locator('[data-plugin="key-auth"] .description').getByText('Adds key authentication').waitFor();
    await page.locator('[data-plugin="prometheus"] .description').getByText('Records request metrics').waitFor();
    // key-auth is configured on route r3 and on consumer alice
    await page.locator('[data-plugin="key-auth"] .bound dd').getByText(/route r3.*consumer alice/).waitFor();
  });

  test('a route in the editors links to its plugin chain', async () => {
    const { page } = admin;
    await page.goto(`${page.url().split('#')[0]}#/resources/routes`);
    await page.locator('tr[data-id="r3"]').getByRole('link', { name: 'Plugin chain' }).click();
    await page.locator('.chain-plugin[data-plugin="key-auth"]').first().waitFor();
    assert.match(page.url(), /#\/routes\/r3\/chain$/);
  });
});
