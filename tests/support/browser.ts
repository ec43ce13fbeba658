/**
 * A real browser for page tests: Debian's Chromium (CHROMIUM_PATH, or `chromium` on the PATH)
 * driven by puppeteer-core. Every request a page makes to a host other than the server under
 * test is refused and remembered, so a test can assert a page needs no internet. Screenshots go
 * to test-artifacts/screenshots/ (CI keeps them).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const SCREENSHOTS = path.resolve(import.meta.dirname, '../../test-artifacts/screenshots');

/** The Chromium binary, or undefined when none is installed (the page tests are skipped then). */
export const chromiumPath = (() => {
  const candidates = [process.env.CHROMIUM_PATH, 'chromium', 'chromium-browser'].filter((c): c is string => Boolean(c));
  for (const c of candidates) {
    try {
      return execFileSync('sh', ['-c', `command -v ${JSON.stringify(c)}`], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      // not this one
    }
  }
  return undefined;
})();

export const launchBrowser = (): Promise<Browser> =>
  puppeteer.launch({
    executablePath: chromiumPath!,
    headless: true,
    // root in CI containers: no user namespaces for Chromium's sandbox
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });

/** A page that may reach `origin` only; what it tried elsewhere is in `refused`. */
export const localPage = async (browser: Browser, origin: string): Promise<{ page: Page; refused: string[]; errors: string[] }> => {
  const page = await browser.newPage();
  const refused: string[] = [];
  const errors: string[] = [];
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    const url = request.url();
    if (url.startsWith(origin) || url.startsWith('data:') || url.startsWith('blob:')) return void request.continue();
    refused.push(url);
    void request.abort();
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  return { page, refused, errors };
};

export const screenshot = async (page: Page, name: string) => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file as `${string}.png`, fullPage: true });
  return file;
};

/** The dashboard at `origin`, signed in with `key`, its live connection up. */
export const signInToDashboard = async (browser: Browser, origin: string, key: string) => {
  const { page, refused, errors } = await localPage(browser, origin);
  await page.goto(`${origin}/dashboard`, { waitUntil: 'load' });
  await page.type('#api-key', key);
  await page.click('#sign-in button');
  await page.waitForFunction(() => document.querySelector('#live')?.getAttribute('data-state') === 'on', { timeout: 15_000 });
  return { page, refused, errors };
};
