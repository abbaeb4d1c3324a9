// The dashboard in a real browser (Debian's chromium) against a real gateway: sign-in,
// the marketplace, publishing a wasm plugin through the drawer, the enabled-plugin rules
// (reason shown, the API's 409 shown), rollback, a viewer's read-only view, Chinese.
// Each screen is saved to docs/screenshots/ for the README.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { startGateway, type Gateway } from '../../helpers/gateway.js';
import { headerStampPlugin } from '../../helpers/custom-plugins.js';
import { get } from '../../helpers/http.js';
import { adminCall as adminCallAs, signIn } from '../../helpers/dashboard.js';
import { launchBrowser, openPage, screenshot, type TrackedPage } from '../../helpers/browser.js';

const ADMIN = 'admin-key-0123456789';
const VIEWER = 'viewer-key-0123456789';

const adminCall = (gw: Gateway, method: string, path: string, body?: unknown) => adminCallAs(gw, ADMIN, method, path, body);

describe('the dashboard in a browser', { timeout: 60_000 }, () => {
  let gw: Gateway;
  let origin: string;
  let browser: Browser;
  let tmp: string;
  let admin: TrackedPage;

  before(async () => {
    [gw, browser, tmp] = await Promise.all([
      startGateway({ store: 'sqlite', adminKeys: [{ name: 'ops', key: ADMIN, role: 'admin' }, { name: 'auditor', key: VIEWER, role: 'viewer' }] }),
      launchBrowser(),
      mkdtemp(join(tmpdir(), 'gatehouse-ui-test-')),
    ]);
    origin = new URL(gw.adminUrl).origin;
    await writeFile(join(tmp, 'stamp-1.wasm'), await headerStampPlugin('one'));
    await writeFile(join(tmp, 'stamp-2.wasm'), await headerStampPlugin('two'));
    await writeFile(join(tmp, 'notes.txt'), 'not a module');
    await truncate(join(tmp, 'huge.wasm'), 50 * 1024 * 1024 + 1).catch(async () => {
      await writeFile(join(tmp, 'huge.wasm'), '');
      await truncate(join(tmp, 'huge.wasm'), 50 * 1024 * 1024 + 1);
    });
    admin = await openPage(browser);
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  test('sign-in: a password field submitted with Enter; a bad key is refused; the key stays in sessionStorage only', async () => {
    const { page } = admin;
    const res = await page.goto(`${origin}/ui/`);
    assert.match(res!.headers()['content-security-policy']!, /default-src 'none'; script-src 'self'/);
    const keyInput = page.getByLabel('Admin API key');
    assert.equal(await keyInput.getAttribute('type'), 'password');
    await screenshot(page, 'sign-in');
    await keyInput.fill('not-a-key');
    await keyInput.press('Enter');
    await page.getByText('This key is not valid.').waitFor();
    await keyInput.fill(ADMIN);
    await keyInput.press('Enter');
    await page.getByRole('heading', { name: 'Plugin marketplace' }).waitFor();
    await page.getByText('Signed in as ops').waitFor();
    const stored = await page.evaluate(() => ({ session: sessionStorage.getItem('gatehouse.session') ?? '', local: JSON.stringify(localStorage), cookie: document.cookie }));
    assert.ok(stored.session.includes(ADMIN));
    assert.ok(!stored.local.includes(ADMIN) && !stored.cookie.includes(ADMIN));
  });

  test('the marketplace shows every built-in plugin as a card, filtered by stage, kind and text', async () => {
    const { page } = admin;
    const builtins = Object.keys((await adminCall(gw, 'GET', '/plugins?all=true')).body);
    await page.locator('[data-plugin="key-auth"]').waitFor();
    assert.equal(await page.locator('article.card').count(), builtins.length);
    await page.getByRole('searchbox').fill('key-auth');
    assert.equal(await page.locator('article.card').count(), 1);
    await page.getByRole('searchbox').fill('');
    await page.locator('.filters select[name=kind]').selectOption('custom');
    await page.getByText('No plugin matches the filters.').waitFor();
    await page.locator('.filters select[name=kind]').selectOption('');
    await page.locator('.filters select[name=stage]').selectOption('authentication');
    const stages = await page.locator('article.card').evaluateAll((cards) => cards.map((c) => c.querySelector('dd')!.textContent));
    assert.ok(stages.length > 0 && stages.every((s) => s === 'Authentication'), String(stages));
    await page.locator('.filters select[name=stage]').selectOption('');
    await page.getByRole('button', { name: 'Details of key-auth' }).click();
    await page.getByRole('dialog', { name: 'key-auth' }).getByText('Built-in plugins are part of the gateway').waitFor();
    assert.equal(await page.getByRole('dialog').getByRole('button', { name: 'Edit' }).count(), 0);
    await page.keyboard.press('Escape');
  });

  test('publishing through the drawer: client-side checks, an API error next to its field, then the upload', async () => {
    const { page } = admin;
    await page.getByRole('button', { name: 'Publish plugin' }).click();
    const drawer = page.getByRole('dialog', { name: 'Publish plugin' });
    await drawer.getByLabel('Plugin ID').fill('stamp');
    await drawer.getByLabel('Plugin name').fill('Header stamp');
    await drawer.getByLabel('Description (shown on the card)').fill('Adds x-stamp to every request');
    await drawer.getByLabel('Version', { exact: true }).fill('1.0.0');
    await drawer.getByLabel('Version note').fill('first release');
    await drawer.getByLabel('Language').selectOption('AssemblyScript');
    await drawer.getByLabel('Execution stage').selectOption('statistics');
    await drawer.getByLabel('Execution priority').fill('10');
    await drawer.getByLabel(/\.wasm file/).setInputFiles(join(tmp, 'notes.txt'));
    await drawer.locator('[data-field="file"]').getByText('The file name must end with .wasm.').waitFor();
    await drawer.getByLabel(/\.wasm file/).setInputFiles(join(tmp, 'huge.wasm'));
    await drawer.locator('[data-field="file"]').getByText('the limit is 50 MB').waitFor();
    await drawer.getByLabel(/\.wasm file/).setInputFiles(join(tmp, 'stamp-1.wasm'));
    await drawer.getByLabel('This version or later').check();
    await drawer.getByLabel('Lowest gateway version').fill('banana');
    await drawer.getByRole('button', { name: 'Publish', exact: true }).click();
    await drawer.locator('[data-field="gateway_version"] .field-error').waitFor();
    await drawer.getByLabel('Any version').check();
    assert.equal(await drawer.locator('[data-field="gateway_version"] .field-error').count(), 0);
    await screenshot(page, 'publish');
    await drawer.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByText('Published stamp version 1.0.0.').waitFor();
    const card = page.locator('[data-plugin="stamp"]');
    await card.getByText('Enabled').waitFor();
    await card.getByText('Adds x-stamp to every request').waitFor();
    const stored = (await adminCall(gw, 'GET', '/custom_plugins/stamp')).body.value;
    assert.equal(stored.stage, 'statistics');
    assert.equal(stored.priority, 10);
    assert.equal(stored.language, 'AssemblyScript');
    assert.equal(stored.versions[0].version_description, 'first release');
    await page.locator('.filters select[name=stage]').selectOption('statistics');
    await screenshot(page, 'marketplace');
    await page.locator('.filters select[name=stage]').selectOption('');
  });

  test('while enabled, edit, re-upload and delete are disabled with the reason; the API\'s 409 is shown when it answers one', async () => {
    const { page } = admin;
    await page.getByRole('button', { name: 'Details of stamp' }).click();
    const drawer = page.getByRole('dialog', { name: 'Header stamp' });
    await drawer.getByText('Disable the plugin first').waitFor();
    for (const name of ['Edit', 'Upload new version', 'Delete']) assert.ok(await drawer.getByRole('button', { name, exact: true }).isDisabled(), name);
    await screenshot(page, 'plugin-detail');
    // disabled here, then enabled behind the page's back: the save meets the API's 409
    await drawer.getByRole('button', { name: 'Disable' }).click();
    await drawer.getByRole('button', { name: 'Enable' }).waitFor();
    await drawer.getByRole('button', { name: 'Edit', exact: true }).click();
    assert.equal((await adminCall(gw, 'PATCH', '/custom_plugins/stamp', { enabled: true })).status, 200);
    await drawer.getByLabel('Plugin name').fill('Stamp (renamed)');
    await drawer.getByRole('button', { name: 'Save' }).click();
    await drawer.getByRole('alert').filter({ hasText: 'is enabled: disable it first' }).waitFor();
    await drawer.getByRole('button', { name: 'Cancel' }).click();
  });

  test('disable, edit, upload a new version, roll back, re-enable', async () => {
    const { page } = admin;
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Details of stamp' }).click();
    let drawer = page.getByRole('dialog', { name: 'Header stamp' });
    await drawer.getByRole('button', { name: 'Disable' }).click();
    await drawer.getByRole('button', { name: 'Edit', exact: true }).click();
    await drawer.getByLabel('Description').fill('Stamps requests');
    await drawer.getByRole('button', { name: 'Save' }).click();
    await drawer.getByText('Saved.').waitFor();
    await drawer.getByText('Stamps requests').waitFor();

    await drawer.getByRole('button', { name: 'Upload new version' }).click();
    const upload = page.getByRole('dialog', { name: 'Upload a new version of stamp' });
    await upload.getByLabel('Version', { exact: true }).fill('1.1.0');
    await upload.getByLabel('Version note').fill('second');
    await upload.getByLabel(/\.wasm file/).setInputFiles(join(tmp, 'stamp-2.wasm'));
    await upload.getByRole('button', { name: 'Publish', exact: true }).click();
    drawer = page.getByRole('dialog', { name: 'Header stamp' });
    await drawer.locator('tr.current[data-version="1.1.0"]').waitFor();
    await drawer.locator('tr[data-version="1.0.0"]').getByRole('button', { name: 'Use this version' }).click();
    await drawer.locator('tr.current[data-version="1.0.0"]').waitFor();
    await drawer.getByRole('button', { name: 'Enable' }).click();
    await drawer.getByRole('button', { name: 'Disable' }).waitFor();
    await screenshot(page, 'plugin-versions');
    const stored = (await adminCall(gw, 'GET', '/custom_plugins/stamp')).body.value;
    assert.equal(stored.version, '1.0.0');
    assert.equal(stored.enabled, true);
    assert.equal(stored.description, 'Stamps requests');
    await page.keyboard.press('Escape');
  });

  test('the language switch turns the dashboard to Simplified Chinese and remembers it', async () => {
    const { page } = admin;
    await page.locator('.lang-switch select').selectOption('zh');
    await page.getByRole('heading', { name: '插件市场' }).waitFor();
    await page.getByRole('button', { name: '发布插件' }).waitFor();
    await screenshot(page, 'marketplace-zh');
    await page.reload();
    await page.getByRole('heading', { name: '插件市场' }).waitFor();
    await page.locator('.lang-switch select').selectOption('en');
    await page.getByRole('heading', { name: 'Plugin marketplace' }).waitFor();
  });

  test('sign-out clears the key and returns to the sign-in form; a key that stops working does too', async () => {
    const { page } = admin;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin API key').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('gatehouse.session')), null);
    await page.evaluate(() => sessionStorage.setItem('gatehouse.session', JSON.stringify({ key: 'revoked-key', name: 'old', role: 'admin' })));
    await page.reload();
    await page.getByText('Your key is no longer accepted').waitFor().catch(async (err: Error) => {
      throw new Error(`${err.message}\nthe page shows: ${(await page.locator('body').innerText()).slice(0, 600)}`);
    });
    assert.equal(await page.evaluate(() => sessionStorage.getItem('gatehouse.session')), null);
  });

  test('a viewer sees every plugin but no write control, and cannot publish', async () => {
    const viewer = await openPage(browser);
    try {
      await signIn(viewer.page, origin, VIEWER);
      await viewer.page.getByText('viewer (read-only)').waitFor();
      await viewer.page.locator('[data-plugin="stamp"]').waitFor();
      assert.equal(await viewer.page.getByRole('button', { name: 'Publish plugin' }).count(), 0);
      await viewer.page.getByRole('button', { name: 'Details of stamp' }).click();
      const drawer = viewer.page.getByRole('dialog', { name: 'Header stamp' });
      await drawer.getByRole('table').waitFor();
      for (const name of ['Enable', 'Disable', 'Edit', 'Upload new version', 'Delete', 'Use this version']) {
        assert.equal(await drawer.getByRole('button', { name, exact: true }).count(), 0, name);
      }
      await screenshot(viewer.page, 'viewer');
      const put = await get(`${gw.adminUrl}/custom_plugins/other`, { method: 'PUT', headers: { 'x-api-key': VIEWER } });
      assert.equal(put.status, 403);
      assert.deepEqual(viewer.cspViolations(), []);
    } finally {
      await viewer.context.close();
    }
  });

  test('no CSP violation and no script error happened on the way', () => {
    assert.deepEqual(admin.cspViolations(), []);
    const unexpected = admin.errors.filter((e) => !/status of (401|409|400|403)/.test(e));
    assert.deepEqual(unexpected, []);
  });
});
