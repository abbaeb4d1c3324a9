// What every dashboard browser test does: sign in through the form, and check or prepare
// the configuration through the Admin API directly (what the UI did must be what a script sees).
import type { Page } from 'playwright-core';
import type { Gateway } from './gateway.js';
import { get } from './http.js';

export async function adminCall(gw: Gateway, key: string, method: string, path: string, body?: unknown) {
  const r = await get(`${gw.adminUrl}${path}`, {
    method, headers: { 'x-api-key': key, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, body: r.body === '' ? undefined : r.json() };
}

/** Signs in with `key` through the form (Enter submits) and waits for the first screen. */
export async function signIn(page: Page, origin: string, key: string): Promise<void> {
  await page.goto(`${origin}/ui/`);
  await page.getByLabel('Admin API key').fill(key);
  await page.getByLabel('Admin API key').press('Enter');
  await page.getByRole('heading', { name: 'Plugin marketplace' }).waitFor();
}
