/**
 * GraphiQL in a real browser (headless Chromium), with every request to another host refused:
 * the page renders from HCP's own assets, takes a key, runs a query and shows the answer, and
 * throws nothing. The screenshot is kept in test-artifacts/screenshots/graphiql.png.
 */
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchBrowser, localPage, screenshot } from '../support/browser.ts';
import { pgliteDatabase } from '../support/databases.ts';
import { ADMIN_KEY, startTestPlatform, type TestPlatform } from '../support/platform.ts';

describe.skipIf(!chromiumPath)('GraphiQL in Chromium, without internet', () => {
  let p: TestPlatform;
  let browser: Browser;
  beforeAll(async () => {
    p = await startTestPlatform(await pgliteDatabase());
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await p?.close();
  });

  it('renders, takes a key and answers a query', async () => {
    const { page, refused, errors } = await localPage(browser, p.url);
    await page.goto(`${p.url}/graphiql`, { waitUntil: 'load' });
    await page.waitForSelector('.graphiql-container', { timeout: 20_000 });
    await page.type('#api-key', ADMIN_KEY);
    await page.click('#key button');
    await page.waitForSelector('.graphiql-execute-button', { timeout: 10_000 });
    await page.click('.graphiql-execute-button');
    await page.waitForFunction(() => document.querySelector('.graphiql-response')?.textContent?.includes('"role": "admin"'), { timeout: 15_000 });
    const shot = await screenshot(page, 'graphiql');
    expect(shot).toMatch(/graphiql\.png$/);
    expect(refused).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });
});
