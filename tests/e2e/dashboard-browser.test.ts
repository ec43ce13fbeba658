/**
 * The dashboards in a real browser (headless Chromium, every request to another host refused),
 * against a running platform (`hcp start` on embedded defaults: the market replayed at 3,600×,
 * the demo customers): the operator's page draws the price chart and the facilities and moves as
 * the market does; a customer's page lists their workload and follows it through its lifecycle,
 * and shows nothing of another customer's. Screenshots: test-artifacts/screenshots/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchBrowser, screenshot, signInToDashboard } from '../support/browser.ts';
import { apiClient, type ApiClient } from '../support/platform.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/hcp.js');

describe.skipIf(!chromiumPath)('dashboards in Chromium, against a running platform', () => {
  let child: ChildProcess;
  let browser: Browser;
  let api: ApiClient;
  let stdout = '';
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hcp-dashboard-'));
  const keyOf = (pattern: RegExp) => pattern.exec(stdout)![1]!;

  beforeAll(async () => {
    child = spawn(process.execPath, [BIN, 'start'], {
      env: { ...process.env, DATABASE_URL: '', KAFKA_BROKERS: '', HCP_DATA_DIR: dataDir, HCP_PORT: '0', HCP_ADMIN_KEY: '', LOG_LEVEL: 'warn', HCP_RATE_LIMIT_PER_MINUTE: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (stdout += d));
    const started = Date.now();
    while (!/demo customer globex/.test(stdout)) {
      if (child.exitCode !== null || Date.now() - started > 60_000) throw new Error(`hcp start did not come up:\n${stdout}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    api = apiClient(/GraphQL\s+(http:\/\/\S+)\/graphql/.exec(stdout)![1]!);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    child?.kill('SIGTERM');
    await new Promise((r) => child?.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  const signIn = (key: string) => signInToDashboard(browser, api.url, key);
  const textOf = (page: Page, selector: string) => page.$eval(selector, (e) => e.textContent ?? '');

  it("shows the operator the market, the facilities and the controller, live", async () => {
    const { page, refused, errors } = await signIn(keyOf(/admin key (hcp_admin_\S+)/));
    await page.waitForSelector('#price-chart canvas', { timeout: 20_000 });
    await page.waitForSelector('[data-facility] table', { timeout: 20_000 });
    await page.waitForSelector('[data-recommendation]', { timeout: 20_000 });
    const before = await textOf(page, '[data-live="price-at"]');
    // the market moves at 3,600×: a new tick within seconds, drawn without a reload
    await page.waitForFunction((t) => document.querySelector('[data-live="price-at"]')?.textContent !== t, { timeout: 20_000 }, before);
    expect(Date.parse(await textOf(page, '[data-live="price-at"]'))).toBeGreaterThan(Date.parse(before));
    // every facility of the seed, and the switches below them
    await page.waitForFunction(() => document.querySelectorAll('[data-facility]').length >= 3 && [...document.querySelectorAll('h2')].some((e) => e.textContent === 'Switches'), { timeout: 20_000 });
    await page.waitForSelector('#power-chart canvas', { timeout: 5_000 });
    // the draw by fleet and mode, and the GPUs failed or out of service per pool, as the API has them
    await page.waitForSelector('#split-chart canvas', { timeout: 5_000 });
    const admin = keyOf(/admin key (hcp_admin_\S+)/);
    const kpis = (await api.gql(admin, `{ facilityKpis { facilityId gpuUtilization { gpuType failed } } }`)).body.data.facilityKpis as Array<{ facilityId: string; gpuUtilization: Array<{ gpuType: string; failed: number }> }>;
    const shown = await page.$$eval('[data-facility] [data-gpu-type]', (rows) => rows.map((r) => r.querySelector('[data-failed]')?.getAttribute('data-failed')));
    expect(shown.length).toBe(kpis.flatMap((k) => k.gpuUtilization).length);
    expect(shown.every((n) => n !== null && n !== undefined && Number.isInteger(Number(n)))).toBe(true);
    const split = (await api.gql(admin, `{ facilities { id } }`)).body.data.facilities as Array<{ id: string }>;
    const [r] = (await api.gql(admin, `query($f: ID!) { recommendations(facilityId: $f, first: 1) { totalKw power { miningKw aiKw idleKw warmReserveKw } } }`, { f: split[0]!.id })).body.data.recommendations;
    if (r) expect(r.power.miningKw + r.power.aiKw + r.power.idleKw + r.power.warmReserveKw).toBeCloseTo(r.totalKw, 1);
    // the switch timeline: a mark for a switch the API lists
    await page.waitForSelector('#switch-timeline svg', { timeout: 5_000 });
    const listed = (await api.gql(admin, `{ switches(first: 1) { id } }`)).body.data.switches as Array<{ id: string }>;
    if (listed.length > 0) await page.waitForSelector(`[data-switch-mark="${listed[0]!.id}"]`, { timeout: 10_000 });
    await screenshot(page, 'dashboard-operator');
    // on a window where a facility's GPU pools table is wider than its card (460 px: the card 428,
    // the table 483), the table scrolls inside the card instead of running out of it, cut off
    await page.setViewport({ width: 460, height: 900 });
    const spilling = await page.$$eval('main > section', (cards) =>
      cards.flatMap((c) => (c.scrollWidth > c.clientWidth + 1 && !['auto', 'scroll'].includes(getComputedStyle(c).overflowX) ? [c.querySelector('h2')?.textContent ?? '?'] : [])),
    );
    expect(spilling).toEqual([]);
    expect(refused).toEqual([]);
    expect(errors).toEqual([]);
    expect(await page.$('#errors')).toBeNull();
    await page.close();
  });

  it("follows a customer's workload through its lifecycle and shows no other customer's", async () => {
    const acme = keyOf(/demo customer acme .* key: (\S+)/);
    const globex = keyOf(/demo customer globex .* key: (\S+)/);
    const submit = async (key: string) => {
      const res = await api.gql(key, `mutation { submitWorkload(input: { type: model_training, model: "llama-3-8b", gpuType: A100, gpuCount: 1, durationHours: 2 }) { id } }`);
      expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
      return res.body.data.submitWorkload.id as string;
    };
    const theirs = await submit(globex);
    const { page, refused, errors } = await signIn(acme);
    await page.waitForSelector('[data-live="quota-available"]', { timeout: 15_000 });
    const mine = await submit(acme);
    // delivered over graphql-ws, then followed to its end (two hours of market time: seconds here)
    await page.waitForSelector(`[data-workload-id="${mine}"]`, { timeout: 15_000 });
    await page.waitForFunction((id) => document.querySelector(`[data-workload-id="${id}"] [data-status]`)?.getAttribute('data-status') === 'completed', { timeout: 30_000 }, mine);
    expect(await page.$(`[data-workload-id="${theirs}"]`)).toBeNull();
    const ids = await page.$$eval('[data-workload-id]', (rows) => rows.map((r) => r.getAttribute('data-workload-id')));
    const listed = (await api.gql(acme, `{ workloads(first: 100) { nodes { id } } }`)).body.data.workloads.nodes.map((n: { id: string }) => n.id);
    expect(ids.every((id) => listed.includes(id))).toBe(true);
    await screenshot(page, 'dashboard-customer');
    expect(refused).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });
});
