// Debian's chromium (apt package `chromium`, installed by .ci/run) driven by playwright-core:
// no browser is downloaded. Pages record console errors and CSP violations, so a test
// can assert the dashboard runs clean under its Content-Security-Policy.
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
/**
 * Test runs save their screenshots as artifacts (git-ignored); `UPDATE_SCREENSHOTS=1 npm test
 * -- dashboard` refreshes the ones checked in under docs/ for the README.
 */
export const SCREENSHOT_DIR = process.env.UPDATE_SCREENSHOTS === '1'
  ? join(ROOT, 'docs', 'screenshots')
  : join(ROOT, '.test-artifacts', 'screenshots');

/** Every wait in the browser tests is bounded by this (ms). */
export const BROWSER_TIMEOUT_MS = 10_000;

export function chromiumPath(): string {
  const path = execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim();
  if (path === '') throw new Error('chromium is not installed: apt-get install -y chromium');
  return path;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'], timeout: 30_000 });
}

export interface TrackedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught page errors, in order. */
  errors: string[];
  /** The console's Content-Security-Policy complaints (a subset of `errors`). */
  cspViolations(): string[];
}

/** A fresh context (its own sessionStorage and localStorage) at 1280x800 in `locale`. */
export async function openPage(browser: Browser, locale = 'en-US'): Promise<TrackedPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale });
  context.setDefaultTimeout(BROWSER_TIMEOUT_MS);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  return { page, context, errors, cspViolations: () => errors.filter((e) => /Content Security Policy/i.test(e)) };
}

/** Saves the viewport as <SCREENSHOT_DIR>/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), timeout: BROWSER_TIMEOUT_MS });
}
