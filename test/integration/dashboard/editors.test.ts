// The resource editors in a real browser against a real gateway: an upstream and a route
// made through the form, a plugin configured through the form generated from its JSON
// Schema (the API's error shown next to its field), a wasm plugin bound in the route
// editor, a consumer's key-auth credential, edit and delete, search and pagination, a
// viewer's read-only view; and the route made here really proxies.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Locator, Page } from 'playwright-core';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { headerStampPlugin, sendPublishForm } from '../../helpers/custom-plugins.js';
import { get } from '../../helpers/http.js';
import { adminCall as adminCallAs, signIn as signInAs } from '../../helpers/dashboard.js';
import { launchBrowser, openPage, screenshot, type TrackedPage } from '../../helpers/browser.js';
import { startUpstream, type TestUpstream } from '../../fixtures/upstream.js';
import { makeCert } from '../../helpers/certs.js';

const ADMIN = 'admin-key-0123456789';
const VIEWER = 'viewer-key-0123456789';

const adminCall = (gw: Gateway, method: string, path: string, body?: unknown) => adminCallAs(gw, ADMIN, method, path, body);

async function signIn(page: Page, origin: string, key: string): Promise<void> {
  await signInAs(page, origin, key);
  await page.getByRole('link', { name: 'Configuration' }).click();
}

async function openKind(page: Page, title: string): Promise<void> {
  await page.locator('.kind-tabs').getByRole('link', { name: title, exact: true }).click();
  await page.getByRole('heading', { name: title, exact: true }).waitFor();
}

/** Opens the kind's list and its Create drawer. */
async function startCreating(page: Page, title: string): Promise<Locator> {
  await openKind(page, title);
  await page.getByRole('button', { name: 'Create' }).click();
  return page.getByRole('dialog');
}

/** Polls the gateway until `path` answers `status` (the change reaches the workers within a second or two). */
async function waitForProxy(gw: Gateway, path: string, status: number, headers: Record<string, string> = {}): Promise<number> {
  const deadline = Date.now() + 5000;
  let last = 0;
  while (Date.now() < deadline) {
    last = (await get(`${gw.url}${path}`, { headers })).status;
    if (last === status) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

/** Polls `check` (the page re-renders after the event that changed it) for at most 5 s. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`still not so after 5 s: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const pluginBlock = (dialog: Locator, name: string): Locator => dialog.locator(`[data-plugin-config="${name}"]`);

describe('the resource editors in a browser', { timeout: 60_000 }, () => {
  let gw: Gateway;
  let origin: string;
  let browser: Browser;
  let upstream: TestUpstream;
  let admin: TrackedPage;

  before(async () => {
    [gw, browser, upstream] = await Promise.all([
      startGateway({ store: 'sqlite', adminKeys: [{ name: 'ops', key: ADMIN, role: 'admin' }, { name: 'auditor', key: VIEWER, role: 'viewer' }] }),
      launchBrowser(),
      startUpstream('shop'),
    ]);
    origin = new URL(gw.adminUrl).origin;
    const published = await sendPublishForm(gw.adminUrl, ADMIN, 'PUT', '/custom_plugins/stamp',
      { stage: 'default', priority: '10', version: '1.0.0' }, { bytes: await headerStampPlugin('one') });
    assert.equal(published.status, 201, JSON.stringify(published.body));
    admin = await openPage(browser);
    await signIn(admin.page, origin, ADMIN);
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
    await upstream?.close();
  });

  test('an upstream and a route through the form; limit-count through its generated form, the API error next to count; the route proxies', async () => {
    const { page } = admin;
    let dialog = await startCreating(page, 'Upstreams');
    await dialog.getByLabel('ID', { exact: true }).fill('u-shop');
    await dialog.getByLabel('Name', { exact: true }).fill('shop backend');
    await dialog.getByLabel('Port of node 1').fill(String(upstream.port));
    // the raw JSON beside the form follows it
    await until('the JSON shows the port', async () => (await dialog.locator('#body-json').inputValue()).includes(`"port": ${upstream.port}`));
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved the upstream.').waitFor();
    assert.equal((await adminCall(gw, 'GET', '/upstreams/u-shop')).body.value.name, 'shop backend');

    dialog = await startCreating(page, 'Routes');
    await dialog.getByLabel('ID', { exact: true }).fill('shop');
    await dialog.getByLabel('Name', { exact: true }).fill('shop route');
    await dialog.getByLabel('URI', { exact: true }).fill('/shop/*');
    await dialog.getByLabel('Upstream', { exact: true }).selectOption('u-shop');
    await dialog.getByLabel('Plugin to add').selectOption('limit-count');
    await dialog.getByRole('button', { name: 'Add plugin' }).click();
    const limit = pluginBlock(dialog, 'limit-count');
    await limit.getByLabel('count *', { exact: true }).fill('0');
    await limit.getByLabel('time_window *', { exact: true }).fill('60');
    // the optional fields (limit-count has many) are folded until asked for
    assert.ok(!(await limit.getByLabel('rejected_code', { exact: true }).isVisible()));
    await limit.getByText(/^Optional fields/).click();
    await limit.getByLabel('rejected_code', { exact: true }).fill('429');
    await until('the plugin JSON follows its form', async () => JSON.stringify(JSON.parse(await limit.getByLabel('limit-count as JSON').inputValue()))
      === JSON.stringify({ count: 0, time_window: 60, rejected_code: 429 }));
    await dialog.getByRole('button', { name: 'Save' }).click();
    const countError = limit.locator('[data-field="plugin-limit-count-count"] .field-error');
    await countError.waitFor();
    assert.match(await countError.textContent() ?? '', /property "count" validation failed/);
    await countError.scrollIntoViewIfNeeded();
    await screenshot(page, 'route-editor');
    await limit.getByLabel('count *', { exact: true }).fill('2');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved the route.').waitFor();
    const stored = (await adminCall(gw, 'GET', '/routes/shop')).body.value;
    assert.equal(stored.upstream_id, 'u-shop');
    const limitConf = stored.plugins['limit-count'];
    assert.deepEqual([limitConf.count, limitConf.time_window, limitConf.rejected_code], [2, 60, 429]);

    assert.equal(await waitForProxy(gw, '/shop/cart', 200), 200);
    assert.ok(upstream.seen.some((r) => r.url === '/shop/cart'));
    assert.equal((await get(`${gw.url}/shop/cart`)).status, 200);
    assert.equal((await get(`${gw.url}/shop/cart`)).status, 429, 'the limit configured through the form applies');
  });

  test('a published wasm plugin is bound to the route in the route editor, and runs', async () => {
    const { page } = admin;
    await page.locator('tr[data-id="shop"]').getByRole('button', { name: 'Edit' }).click();
    const dialog = page.getByRole('dialog');
    await pluginBlock(dialog, 'limit-count').getByRole('button', { name: 'Remove limit-count' }).click();
    await dialog.getByLabel('Plugin to add').selectOption('stamp');
    await dialog.getByRole('button', { name: 'Add plugin' }).click();
    await pluginBlock(dialog, 'stamp').waitFor();
    await dialog.getByRole('button', { name: 'Save' }).click();
    // the previous test's "Saved the route." may still be showing: wait for the store to say so
    await until('the route is saved with the stamp plugin alone', async () =>
      JSON.stringify(Object.keys((await adminCall(gw, 'GET', '/routes/shop')).body.value.plugins)) === '["stamp"]');
    await page.getByText('Saved the route.').waitFor();
    const deadline = Date.now() + 5000;
    let stamped: unknown;
    while (Date.now() < deadline && stamped === undefined) {
      await get(`${gw.url}/shop/wasm`);
      stamped = [...upstream.seen].reverse().find((r) => r.url === '/shop/wasm')?.headers['x-stamp'];
      if (stamped === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(stamped, 'one');
  });

  test('edit through the raw JSON (invalid JSON shown, save held), then delete after the confirmation', async () => {
    const { page } = admin;
    assert.equal((await adminCall(gw, 'PUT', '/routes/scratch', { uri: '/scratch', upstream_id: 'u-shop' })).status, 201);
    await openKind(page, 'Upstreams');
    await openKind(page, 'Routes');
    await page.locator('tr[data-id="scratch"]').getByRole('button', { name: 'Edit' }).click();
    const dialog = page.getByRole('dialog');
    const json = dialog.locator('#body-json');
    await json.fill('{"uri": "/scratch",');
    await dialog.getByText(/Invalid JSON/).waitFor();
    assert.ok(await dialog.getByRole('button', { name: 'Save' }).isDisabled());
    await json.fill(JSON.stringify({ uri: '/scratch2', upstream_id: 'u-shop', desc: 'from the JSON' }));
    await until('the form follows the JSON', async () => (await dialog.getByLabel('URI', { exact: true }).inputValue()) === '/scratch2');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await until('the route is saved from the JSON', async () => (await adminCall(gw, 'GET', '/routes/scratch')).body.value.desc === 'from the JSON');
    await page.getByText('Saved the route.').waitFor();

    await page.locator('tr[data-id="scratch"]').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Deleted scratch.').waitFor();
    await until('the deleted row leaves the list', async () => (await page.locator('tr[data-id="scratch"]').count()) === 0);
    assert.equal((await adminCall(gw, 'GET', '/routes/scratch')).status, 404);
  });

  test('a consumer and its key-auth credential, the credential form from the consumer schema', async () => {
    const { page } = admin;
    let dialog = await startCreating(page, 'Consumers');
    await dialog.getByLabel('Username *', { exact: true }).fill('jack');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved the consumer.').waitFor();
    await page.locator('tr[data-id="jack"]').getByRole('link', { name: 'Credentials' }).click();
    await page.getByRole('heading', { name: 'Credentials of consumer jack' }).waitFor();
    await page.getByRole('button', { name: 'Create' }).click();
    dialog = page.getByRole('dialog');
    await dialog.getByLabel('ID *', { exact: true }).fill('jack-key');
    const choices = await dialog.getByLabel('Plugin to add').locator('option').allTextContents();
    assert.ok(choices.includes('key-auth') && !choices.includes('limit-count'), `only credential plugins: ${choices.join(',')}`);
    await dialog.getByLabel('Plugin to add').selectOption('key-auth');
    await dialog.getByRole('button', { name: 'Add plugin' }).click();
    const keyAuth = pluginBlock(dialog, 'key-auth');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await keyAuth.locator('[data-field="plugin-key-auth-key"] .field-error').getByText('property "key" is required').waitFor();
    assert.equal(await keyAuth.getByLabel('key *', { exact: true }).getAttribute('type'), 'password');
    // key-auth's consumer schema has additionalProperties: false; a half-typed plugin JSON holds the save
    const keyAuthJson = keyAuth.getByLabel('key-auth as JSON');
    await keyAuthJson.fill('{"key": "jack-secret-0001", "bogus": 1');
    await keyAuth.getByText(/Invalid JSON/).waitFor();
    assert.ok(await dialog.getByRole('button', { name: 'Save' }).isDisabled());
    await keyAuthJson.fill('{"key": "jack-secret-0001", "bogus": 1}');
    await keyAuth.getByText('Not allowed by the schema: bogus').waitFor();
    await keyAuthJson.fill('{"key": "jack-secret-0001"}');
    await until('the form follows the plugin JSON', async () => (await keyAuth.getByLabel('key *', { exact: true }).inputValue()) === 'jack-secret-0001');
    await screenshot(page, 'credential-editor');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved the credential.').waitFor();
    await page.locator('tr[data-id="jack-key"]').waitFor();
    assert.ok((await adminCall(gw, 'GET', '/consumers/jack/credentials/jack-key')).body.value.plugins['key-auth']);
  });

  test('search and pagination over 25 upstreams made through the API', async () => {
    const { page } = admin;
    for (let i = 1; i <= 25; i++) {
      const id = `bulk-${String(i).padStart(2, '0')}`;
      assert.equal((await adminCall(gw, 'PUT', `/upstreams/${id}`, { name: `bulk ${i}`, nodes: [{ host: '127.0.0.1', port: 1980, weight: 1 }] })).status, 201);
    }
    await openKind(page, 'Routes');
    await openKind(page, 'Upstreams');
    await page.getByText('26 of 26').waitFor();
    await page.getByText('Page 1 of 3').waitFor();
    assert.equal(await page.locator('.resource-table tbody tr').count(), 10);
    await screenshot(page, 'resource-list');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText('Page 2 of 3').waitFor();
    assert.equal(await page.locator('tr[data-id="bulk-11"]').count(), 1);
    await page.getByRole('button', { name: 'Next' }).click();
    assert.equal(await page.locator('.resource-table tbody tr').count(), 6);
    await page.getByRole('searchbox').fill('bulk-2');
    await page.getByText('6 of 26').waitFor();
    assert.equal(await page.locator('.pager').count(), 0);
    await page.getByRole('searchbox').fill('shop backend');
    await page.getByText('1 of 26').waitFor();
    await page.locator('tr[data-id="u-shop"]').waitFor();
  });

  test('the other kinds through their forms: plugin metadata from its metadata schema, a Vault secret, a global rule, an SSL certificate (an error naming no field on top); a nodes error beside the table', async () => {
    const { page } = admin;
    let dialog = await startCreating(page, 'Plugin metadata');
    await dialog.getByLabel('Plugin', { exact: true }).selectOption('http-logger');
    await dialog.getByLabel('log_format', { exact: true }).fill('{"host": "$host"}');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved the plugin metadata.').waitFor();
    assert.deepEqual((await adminCall(gw, 'GET', '/plugin_metadata/http-logger')).body.value.log_format, { host: '$host' });

    dialog = await startCreating(page, 'Secrets (Vault)');
    await dialog.getByLabel('ID *', { exact: true }).fill('v1');
    await dialog.getByLabel('Token', { exact: true }).fill('root-token-0001');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.locator('tr[data-id="vault/v1"]').waitFor();
    const secret = (await adminCall(gw, 'GET', '/secrets/vault/v1')).body.value;
    assert.equal(secret.prefix, 'kv/apisix');
    assert.notEqual(secret.token, 'root-token-0001', 'the token is never shown again');

    dialog = await startCreating(page, 'Global rules');
    await dialog.getByLabel('ID *', { exact: true }).fill('g1');
    await dialog.getByLabel('Plugin to add').selectOption('request-id');
    await dialog.getByRole('button', { name: 'Add plugin' }).click();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.locator('tr[data-id="g1"]').waitFor();
    assert.ok((await adminCall(gw, 'GET', '/global_rules/g1')).body.value.plugins['request-id']);

    const shopCert = makeCert(['shop.test']);
    dialog = await startCreating(page, 'SSL certificates');
    await dialog.getByLabel('SNIs', { exact: true }).fill('shop.test');
    await dialog.getByLabel('Certificate (PEM)').fill(shopCert.cert);
    await dialog.getByLabel('Private key (PEM)').fill(makeCert(['other.test']).key);
    await dialog.getByRole('button', { name: 'Save' }).click();
    // a message naming no field goes on top of the form
    await dialog.locator('.top-error').getByText('the private key does not match the certificate').waitFor();
    await dialog.getByLabel('Private key (PEM)').fill(shopCert.key);
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved the SSL certificate.').waitFor();
    await page.locator('.resource-table').getByText('shop.test').waitFor();

    dialog = await startCreating(page, 'Upstreams');
    await dialog.getByLabel('Port of node 1').fill('0');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.locator('[data-field="nodes"] .field-error').getByText(/property "port" validation failed/).waitFor();
    await page.keyboard.press('Escape');
  });

  test('stream routes are listed with their port, client address and plugins; a non-stream plugin is refused by name', async () => {
    const { page } = admin;
    const body = { name: 'mysql', server_port: 9100, remote_addr: '10.0.0.0/8', upstream: { nodes: { '127.0.0.1:3306': 1 } }, plugins: { 'ip-restriction': { whitelist: ['10.0.0.0/8'] } } };
    assert.equal((await adminCall(gw, 'PUT', '/stream_routes/tcp-1', body)).status, 201);
    await openKind(page, 'Stream routes (TCP/UDP)');
    const row = page.locator('tr[data-id="tcp-1"]');
    await row.waitFor();
    const text = await row.innerText();
    for (const part of ['mysql', '9100', '10.0.0.0/8', 'ip-restriction']) assert.ok(text.includes(part), text);
    const refused = await adminCall(gw, 'PUT', '/stream_routes/tcp-2', { ...body, plugins: { cors: {} } });
    assert.equal(refused.status, 400);
    assert.match(JSON.stringify(refused.body), /cors is not a stream plugin/);
  });

  test('a viewer sees the objects but no write control; the section in Chinese', async () => {
    const viewer = await openPage(browser);
    try {
      const { page } = viewer;
      await signIn(page, origin, VIEWER);
      await openKind(page, 'Routes');
      await page.locator('tr[data-id="shop"]').waitFor();
      assert.equal(await page.getByRole('button', { name: 'Create' }).count(), 0);
      assert.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0);
      await page.locator('tr[data-id="shop"]').getByRole('button', { name: 'View' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByText('Read-only').waitFor();
      await pluginBlock(dialog, 'stamp').waitFor();
      assert.equal(await dialog.getByRole('button', { name: 'Save' }).count(), 0);
      assert.equal(await dialog.getByRole('button', { name: 'Add plugin' }).count(), 0);
      assert.equal(await dialog.getByRole('button', { name: /^Remove/ }).count(), 0);
      assert.equal(await dialog.getByLabel('URI', { exact: true }).getAttribute('readonly'), '');
      assert.equal(await dialog.locator('#body-json').getAttribute('readonly'), '');
      await page.keyboard.press('Escape');
      await page.locator('.lang-switch select').selectOption('zh');
      await page.getByRole('heading', { name: '路由', exact: true }).waitFor();
      await page.locator('tr[data-id="shop"]').getByRole('button', { name: '查看' }).waitFor();
      assert.deepEqual(viewer.cspViolations(), []);
    } finally {
      await viewer.context.close();
    }
    assert.deepEqual(admin.cspViolations(), []);
  });
});

