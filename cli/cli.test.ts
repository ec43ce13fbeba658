/**
 * The CLI as a newcomer runs it: `hcp start` on embedded defaults, a request with a
 * demo key, a clean stop, a restart that resumes the market; `hcp projections` and `hcp export`;
 * a bad variable stops it.
 */
import { spawn } from 'node:child_process';
import type { SimulationRun } from './simulate.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = path.resolve(import.meta.dirname, '../bin/hcp.js');

type Run = { code: number | null; stdout: string; stderr: string; stop: () => Promise<number | null> };

/** Runs the CLI; resolves when its stdout matches `until`, or when it exits. */
const run = (args: string[], env: Record<string, string>, until?: RegExp) =>
  new Promise<Run>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const out = { stdout: '', stderr: '' };
    const stop = () => {
      child.kill('SIGTERM');
      return exited;
    };
    child.stdout.on('data', (d) => {
      out.stdout += d;
      if (until?.test(out.stdout)) resolve({ code: null, ...out, stop });
    });
    child.stderr.on('data', (d) => (out.stderr += d));
    void exited.then((code) => resolve({ code, ...out, stop }));
  });

describe('hcp CLI', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'hcp-cli-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));
  // the newcomer's embedded defaults, whatever the CI machine sets (its Kafka runs the bus and ingestion suites)
  const env = () => ({ HCP_DATA_DIR: dataDir, HCP_PORT: '0', LOG_LEVEL: 'warn', DATABASE_URL: '', ESDB_CONNECTION_STRING: '', KAFKA_BROKERS: '', HCP_ADMIN_KEY: '' });

  it('starts on embedded defaults, prints where and the demo keys, serves, and stops cleanly', async () => {
    const started = await run(['start'], env(), /demo customer globex.*key: (\S+)/);
    try {
      const url = /GraphQL\s+(http:\/\/\S+)\/graphql/.exec(started.stdout)?.[1];
      const key = /demo customer acme .* key: (\S+)/.exec(started.stdout)?.[1];
      expect(url).toBeDefined();
      expect(key).toMatch(/^hcp_/);
      expect((await fetch(`${url}/health`)).status).toBe(200);
      const res = await fetch(`${url}/api/v1/workloads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ type: 'ai_inference_batch', model: 'llama-3-8b', gpu_type: 'A100', duration_hours: 1 }),
      });
      expect(res.status).toBe(201);
      // keys go to the person who started it, never into the logs
      expect(started.stderr).not.toContain(key!);
    } finally {
      expect(await started.stop()).toBe(0);
    }
    // a fresh start has nothing to catch up with: no warning that read models are behind
    expect(started.stdout + started.stderr).not.toContain('still behind');
  });

  it('resumes market time after the last recorded tick when started again', async () => {
    const again = await run(['start'], env(), /demo customer globex.*key: (\S+)/);
    try {
      const from = /market\s+replay from (\S+) \(resumed after the last recorded tick\)/.exec(again.stdout)?.[1];
      expect(from, again.stdout).toBeDefined();
      expect(Date.parse(from!)).toBeGreaterThan(Date.parse('2023-08-20T00:00:00Z'));
    } finally {
      expect(await again.stop()).toBe(0);
    }
  });

  it('refuses to open the embedded data folder a running server holds, and says so', async () => {
    const server = await run(['start'], env(), /demo customer globex.*key: (\S+)/);
    try {
      const rebuild = await run(['projections', 'rebuild', 'customers'], env());
      expect(rebuild.code).toBe(1);
      expect(rebuild.stderr).toMatch(/data folder .* is in use by process \d+/);
      const second = await run(['start'], env());
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/in use by process/);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('rebuilds beside the live read models, builds a version as of a moment, lists, exports and drops it', async () => {
    const rebuilt = await run(['projections', 'rebuild', 'all'], env());
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(rebuilt.stdout).toMatch(/rebuilt customers, workloads, .* swapped: [1-9]\d* events/);
    const unknown = await run(['projections', 'rebuild', 'nope'], env());
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown projection');

    // the workload submitted by the first test, live and as of before anything happened
    const live = await run(['export', 'workloads', '--format', 'jsonl'], env());
    expect(live.code, live.stderr).toBe(0);
    const rows = live.stdout.trim().split('\n').map((line) => JSON.parse(line) as { model: string });
    expect(rows.map((r) => r.model)).toContain('llama-3-8b');
    const before = await run(['projections', 'rebuild', 'all', '--as-of', '2000-01-01T00:00:00Z', '--name', 'hcp_asof_y2k'], env());
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/built hcp_asof_y2k .* 0 events/);
    const empty = await run(['export', 'workloads', '--as-of', 'hcp_asof_y2k'], env());
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout.trim().split('\n')).toHaveLength(1); // the CSV header alone
    expect(empty.stdout).toMatch(/^workload_id,customer_id,/);
    const listed = await run(['projections', 'list'], env());
    expect(listed.stdout).toMatch(/hcp_asof_y2k\s+as-of\s+2000-01-01T00:00:00.000Z/);
    expect((await run(['projections', 'drop', 'hcp_asof_y2k'], env())).code).toBe(0);
    expect((await run(['projections', 'list'], env())).stdout).not.toContain('hcp_asof_y2k');

    const badFormat = await run(['export', 'workloads', '--format', 'xml'], env());
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toContain('--format');
  }, 120_000); // two CLI processes and a rebuild of every read model: 54 s beside a designed-scale day here

  it('audits the embedded store: a digest, a verify against it, a filtered replay; usage mistakes by name', async () => {
    const digestFile = path.join(dataDir, 'digest.json');
    const digest = await run(['audit', 'digest', '--out', digestFile], env());
    expect(digest.code, digest.stderr).toBe(0);
    const verified = await run(['audit', 'verify', '--digest', digestFile, '--json'], env());
    expect(verified.code, verified.stderr).toBe(0);
    const report = JSON.parse(verified.stdout) as { ok: boolean; events: number; digest: { count: number }; derived: { checks: { name: string; checked: number }[] } };
    expect(report.ok).toBe(true);
    expect(report.events).toBeGreaterThan(100);
    expect(report.digest.count).toBe(0);
    expect(report.derived.checks.find((c) => c.name === 'quota')!.checked).toBeGreaterThan(0);
    const replayed = await run(['audit', 'replay', '--category', 'customer', '--format', 'jsonl', '--limit', '3'], env());
    expect(replayed.code).toBe(0);
    const lines = replayed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { stream: string; hash: string; metadata: { actor: string } });
    expect(lines).toHaveLength(3);
    for (const l of lines) {
      expect(l.stream).toMatch(/^customer-/);
      expect(l.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(l.metadata.actor).toBeTruthy();
    }
    const badFormat = await run(['audit', 'replay', '--format', 'xml'], env());
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toContain('--format');
    const noDigest = await run(['audit', 'verify', '--digest', path.join(dataDir, 'missing.json')], env());
    expect(noDigest.code).toBe(2);
    expect(noDigest.stderr).toContain('--digest');
  });

  it('backtests the controller on a week of real prices, as JSON for scripts', async () => {
    const res = await run(['backtest', '--from', '2023-08-14', '--to', '2023-08-21', '--facility', 'north-dakota', '--json'], env());
    expect(res.code).toBe(0);
    const result = JSON.parse(res.stdout) as {
      controllerShareOfOptimumPercent: number;
      strategies: Array<{ strategy: string; netProfitUsd: number; blockSwitches: number }>;
    };
    const byName = Object.fromEntries(result.strategies.map((s) => [s.strategy, s]));
    expect(Object.keys(byName)).toEqual(expect.arrayContaining(['controller', 'reactive', 'seed-10pct', 'mining-only', 'ai-only', 'optimum']));
    for (const s of result.strategies) expect(byName.optimum!.netProfitUsd).toBeGreaterThanOrEqual(s.netProfitUsd - 1e-6);
    expect(byName['mining-only']!.blockSwitches).toBe(0);
    expect(result.controllerShareOfOptimumPercent).toBeGreaterThan(90);
    expect(result.controllerShareOfOptimumPercent).toBeLessThanOrEqual(100);
  });

  it('simulates hours of the whole platform and sums them up, as JSON for scripts; refuses bad options by name', async () => {
    const res = await run(['simulate', '--hours', '2', '--per-day', '600', '--seed', 'cli', '--json'], env());
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as SimulationRun;
    expect(out.backend).toBe('pglite');
    expect(out.summary.workloads.submitted).toBeGreaterThan(10);
    expect(out.summary.runs.placements).toBeGreaterThanOrEqual(out.summary.workloads.submitted - (out.summary.workloads.byStatus.queued ?? 0));
    // every run that ended is billed once
    const ended = (out.summary.workloads.byStatus.completed ?? 0) + out.summary.runs.preempted + out.summary.runs.interrupted;
    expect(out.summary.billing.lines).toBeGreaterThanOrEqual(out.summary.workloads.byStatus.completed ?? 0);
    expect(out.summary.billing.lines).toBeLessThanOrEqual(ended);
    expect(out.summary.projectionLag).toBe(0);
    expect(out.summary.waits.map((w) => w.priority)).toEqual(['P1', 'P2', 'P3']);
    const bad = await run(['simulate', '--hours', 'soon'], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--hours');
  });

  it('stops with a message naming a bad variable', async () => {
    const bad = await run(['start'], { ...env(), HCP_PORT: 'eighty' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('HCP_PORT');
  });
});
