/**
 * npm run bench:scale [-- --connections 16] [--seconds 5] [--runs 3] [--failovers 3] [--parts throughput,isolation,failover] [--json]
 *
 * HCP scaled out on the PostgreSQL server, measured from outside, every part a process of its own:
 *
 * 1. Query throughput: a simple read (`{ latestPrices { feed at priceMicroUsd } }` with a customer's
 *    key) with `connections` concurrent keep-alive clients for `seconds`, medians over `runs`
 *    taken in turn (A B C A B C …), against one API instance and two (requests alternate), each
 *    beside as many instances of plain fastify serving the same read as JSON (requests alternate
 *    alike), with the market at real pace (a quiet background) (bench/scale/plain-server.ts; no
 *    GraphQL, no key, no limits). Goal: ≥ 70 % of plain fastify (the mercurius-with-JIT anchor is
 *    about 93 %). Two instances are held to two plain ones: on a machine of few cores a second
 *    process mostly adds contention, which one plain process never pays.
 * 2. Serving isolated from background work: the p99 of the same read on an API instance while a
 *    worker replays the market at 3,600× and at 36,000×, beside one process with every role on
 *    the server, and the quick start (every role on embedded PGlite), at the same speeds, at a
 *    light steady load (100 requests a second, open loop). Goal: p99 ≤ 50 ms at any speed. The
 *    quick start slows market time while its one event loop is saturated (cli/speed-governor.ts):
 *    the speed it ran at by the end is printed beside the figures.
 * 3. Failover: a worker leading every role is SIGKILLed with a standby running, `failovers`
 *    times; the time until the standby leads each role (from its log), median.
 *
 * The load generator runs in this process, on the same machine as the servers and PostgreSQL:
 * on a small machine the figures are bounded by the cores they share (printed).
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { median, quantile } from './support/stats.ts';
import { benchDatabase, startHcp, startProcess, type HcpProcess } from './support/processes.ts';

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    failovers: { type: 'string', default: '3' },
    parts: { type: 'string', default: 'throughput,isolation,failover' },
    json: { type: 'boolean', default: false },
  },
});
const count = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
};
const connections = count('connections', args.connections);
const seconds = count('seconds', args.seconds);
const runs = count('runs', args.runs);
const failovers = count('failovers', args.failovers);
const PARTS = ['throughput', 'isolation', 'failover'] as const;
const parts = new Set(args.parts!.split(',').map((p) => p.trim()));
for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--parts takes ${PARTS.join(', ')}; got ${p}`);
const out = (line: string) => !args.json && process.stdout.write(`${line}\n`);
const progress = (line: string) => process.stderr.write(`${line}\n`);

const ADMIN_KEY = `bench-admin-${randomBytes(12).toString('hex')}`;
const WORKER = 'projections,processes,ingestion';
/** The steady load beside background work: what a few dashboards and clients ask, not a flood. */
const STEADY_PER_SECOND = 100;
const QUERY = JSON.stringify({ query: '{ latestPrices { feed at priceMicroUsd } }' });

type Target = { url: string; path: string; method: 'GET' | 'POST'; key?: string };
type Run = { requests: number; perSecond: number; p50Ms: number; p99Ms: number; errors: number };
type Result = { perSecond: number; p50Ms: number; p99Ms: number; errors: number };

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** The speed a platform's clock runs at now, from its /metrics (hcp_market_speed). */
const marketSpeedOf = async (url: string): Promise<number | undefined> => {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }).catch(() => undefined);
  const text = res?.ok ? await res.text() : '';
  const m = /^hcp_market_speed (\S+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
};

const request = (target: Target) =>
  new Promise<number>((resolve, reject) => {
    const url = new URL(target.path, target.url);
    const req = http.request(
      url,
      {
        method: target.method,
        agent,
        headers: target.method === 'POST' ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(QUERY), ...(target.key ? { authorization: `Bearer ${target.key}` } : {}) } : {},
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (target.method === 'POST') req.write(QUERY);
    req.end();
  });

/** `clients` loops, each sending one request after another to the targets in turn, for `forSeconds`. */
const drive = async (targets: readonly Target[], clients: number, forSeconds: number): Promise<Run> => {
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const deadline = start + forSeconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = c; performance.now() < deadline; i++) {
        const t0 = performance.now();
        const status = await request(targets[i % targets.length]!).catch(() => 0);
        if (status === 200) latencies.push(performance.now() - t0);
        else errors++;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  return { requests: latencies.length, perSecond: latencies.length / elapsed, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), errors };
};

/**
 * A steady load that does not wait for answers (open loop): `perSecond` requests a second at even
 * intervals for `forSeconds`, each timed on its own, so a slow answer cannot slow the load down.
 */
const drivePaced = async (target: Target, perSecond: number, forSeconds: number): Promise<Run> => {
  const latencies: number[] = [];
  let errors = 0;
  const sent: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < perSecond * forSeconds; i++) {
    const due = start + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    sent.push(
      request(target)
        .catch(() => 0)
        .then((status) => {
          if (status === 200) latencies.push(performance.now() - t0);
          else errors++;
        }),
    );
  }
  await Promise.all(sent);
  return { requests: latencies.length, perSecond: latencies.length / forSeconds, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), errors };
};

const summarize = (label: string, samples: readonly Run[]): Result => {
  const result = {
    perSecond: median(samples.map((s) => s.perSecond)),
    p50Ms: median(samples.map((s) => s.p50Ms)),
    p99Ms: median(samples.map((s) => s.p99Ms)),
    errors: samples.reduce((n, s) => n + s.errors, 0),
  };
  progress(`  ${label}: ${result.perSecond.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms${result.errors ? `, ${result.errors} errors` : ''}`);
  return result;
};

/** Each configuration in turn, `runs` rounds (A B C A B C …), so drift on the machine falls on all alike. */
const measureInterleaved = async (configs: ReadonlyArray<{ label: string; targets: readonly Target[] }>, clients = connections): Promise<Result[]> => {
  for (const c of configs) await drive(c.targets, clients, 1); // warm-up
  const samples: Run[][] = configs.map(() => []);
  for (let r = 0; r < runs; r++) for (const [i, c] of configs.entries()) samples[i]!.push(await drive(c.targets, clients, seconds));
  return configs.map((c, i) => summarize(c.label, samples[i]!));
};

const gql = async (url: string, key: string, query: string, variables?: Record<string, unknown>) => {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: any; errors?: unknown };
  if (res.status !== 200 || body.errors) throw new Error(`${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
  return body.data;
};

const customerKey = async (url: string) => {
  const { registerCustomer } = await gql(url, ADMIN_KEY, `mutation { registerCustomer(input: {name: "bench scale"}) { id } }`);
  const { issueApiKey } = await gql(url, ADMIN_KEY, `mutation($c: ID!) { issueApiKey(role: customer, customerId: $c) { key } }`, { c: registerCustomer.id });
  return issueApiKey.key as string;
};

const envFor = (databaseUrl: string, speed: number): NodeJS.ProcessEnv => ({
  DATABASE_URL: databaseUrl,
  HCP_ADMIN_KEY: ADMIN_KEY,
  HCP_DEMO: 'false',
  HCP_DEMO_LOAD: '0',
  HCP_MARKET: 'replay',
  HCP_MARKET_SPEED: String(speed),
  HCP_RATE_LIMIT_PER_MINUTE: '0',
  HCP_BUS_NAMESPACE: `bench${randomBytes(3).toString('hex')}`,
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
});

const SHAPES = { split: 'API instance beside a worker (server)', all: 'one process, every role (server)', embedded: 'one process, every role (PGlite)' } as const;

const running: HcpProcess[] = [];
const start = async (p: Promise<HcpProcess>) => {
  const started = await p;
  running.push(started);
  return started;
};

const main = async () => {
  const cpus = os.cpus();
  out(`bench:scale — ${connections} connections × ${seconds} s × ${runs} runs (medians), load generator in this process`);
  out(`machine:  ${os.type()} ${os.release()} ${os.arch()}, ${cpus.length} × ${cpus[0]?.model ?? 'unknown'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  out(`bus:      ${process.env.KAFKA_BROKERS ? `Kafka at ${process.env.KAFKA_BROKERS}` : 'in-process (each worker its own)'}`);
  const report: Record<string, unknown> = { connections, seconds, runs, cpus: cpus.length };

  // ---- 1. throughput: 1 and 2 API instances, beside 1 and 2 of plain fastify ----
  if (parts.has('throughput')) {
    const db = await benchDatabase('hcp_bench_scale');
    try {
      // the market at real pace: prices in force are published at start, then the background is quiet
      const env = envFor(db.url, 1);
      progress('starting a worker, two API instances and two of plain fastify …');
      await start(startHcp(WORKER, env));
      const [api1, api2] = await Promise.all([start(startHcp('api', env)), start(startHcp('api', env))]);
      const startPlain = () => start(startProcess({ args: ['bench/scale/plain-server.ts'], nodeArgs: ['--import', 'tsx'], env: { DATABASE_URL: db.url }, ready: 'plain fastify listening' }));
      const [plain1, plain2] = await Promise.all([startPlain(), startPlain()]);
      const key = await customerKey(api1!.url);
      // prices in the read model before measuring
      for (let i = 0; i < 100 && (await gql(api1!.url, key, '{ latestPrices { feed } }')).latestPrices.length === 0; i++) await new Promise((r) => setTimeout(r, 200));
      const graphql = (p: HcpProcess): Target => ({ url: p.url, path: '/graphql', method: 'POST', key });
      const plain = (p: HcpProcess): Target => ({ url: p.url, path: '/prices', method: 'GET' });
      await new Promise((r) => setTimeout(r, 3000)); // the worker's start-up catch-up over
      const [plainOne, one, plainTwo, two] = (await measureInterleaved([
        { label: 'plain fastify, JSON, 1 instance', targets: [plain(plain1!)] },
        { label: 'GraphQL, 1 API instance', targets: [graphql(api1!)] },
        { label: 'plain fastify, JSON, 2 instances', targets: [plain(plain1!), plain(plain2!)] },
        { label: 'GraphQL, 2 API instances', targets: [graphql(api1!), graphql(api2!)] },
      ])) as [Result, Result, Result, Result];
      report.throughput = { plain: plainOne, oneInstance: one, plainTwoInstances: plainTwo, twoInstances: two, oneToPlain: one.perSecond / plainOne.perSecond, twoToPlainTwo: two.perSecond / plainTwo.perSecond };
      out('');
      out('simple read `latestPrices` (customer key)          req/s     p50 ms   p99 ms   vs plain');
      for (const [label, r, yardstick] of [
        ['plain fastify, same read as JSON', plainOne, plainOne],
        ['GraphQL, 1 API instance', one, plainOne],
        ['plain fastify, 2 instances (alternating)', plainTwo, plainTwo],
        ['GraphQL, 2 API instances (alternating)', two, plainTwo],
      ] as const)
        out(`  ${label.padEnd(46)} ${r.perSecond.toFixed(0).padStart(7)} ${r.p50Ms.toFixed(1).padStart(10)} ${r.p99Ms.toFixed(1).padStart(8)} ${(r.perSecond / yardstick.perSecond).toFixed(2).padStart(9)}×`);
      out(`  goal: ≥ 0.70× plain fastify — 1 instance ${(one.perSecond / plainOne.perSecond).toFixed(2)}×, 2 instances ${(two.perSecond / plainTwo.perSecond).toFixed(2)}× (2 of plain fastify ${(plainTwo.perSecond / plainOne.perSecond).toFixed(2)}× of 1)`);
      for (const p of running.splice(0)) await p.stop();
    } finally {
      await db.drop();
    }
  }

  // ---- 2. isolation: an API instance beside a worker, vs one process with every role ----
  const isolation: Record<string, Result & { marketSpeed: number | undefined }> = {};
  for (const speed of parts.has('isolation') ? [3600, 36000] : []) {
    for (const shape of ['split', 'all', 'embedded'] as const) {
      const sdb = await benchDatabase('hcp_bench_scale');
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hcp-bench-scale-'));
      try {
        const env = envFor(sdb.url, speed);
        let api: HcpProcess;
        if (shape === 'split') {
          await start(startHcp(WORKER, env));
          api = await start(startHcp('api', env));
        } else if (shape === 'all') api = await start(startHcp('all', env));
        // the quick start: PGlite in a data folder, one process, one connection for everything
        else api = await start(startHcp('all', { ...env, DATABASE_URL: '', HCP_DATA_DIR: dataDir }));
        const key = await customerKey(api.url);
        await new Promise((r) => setTimeout(r, 2000)); // the market under way
        const target: Target = { url: api.url, path: '/graphql', method: 'POST', key };
        const samples: Run[] = [];
        for (let r = 0; r < runs; r++) samples.push(await drivePaced(target, STEADY_PER_SECOND, seconds));
        const result = summarize(`${SHAPES[shape]} at ${speed}×`, samples);
        // the embedded platform slows market time while its event loop lags (cli/speed-governor.ts)
        isolation[`${shape}@${speed}`] = { ...result, marketSpeed: await marketSpeedOf(api.url) };
      } finally {
        for (const p of running.splice(0)) await p.stop();
        await sdb.drop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  if (parts.has('isolation')) {
    report.isolation = isolation;
    out('');
    out(`simple read under background work, ${STEADY_PER_SECOND} req/s steady      req/s     p50 ms   p99 ms   p99 ≤ 50 ms   market speed at the end`);
    for (const [label, r] of Object.entries(isolation))
      out(
        `  ${`${SHAPES[label.split('@')[0] as keyof typeof SHAPES]}, ${label.split('@')[1]}×`.padEnd(48)}${r.perSecond.toFixed(0).padStart(8)} ${r.p50Ms.toFixed(1).padStart(10)} ${r.p99Ms.toFixed(1).padStart(8)}   ${(r.p99Ms <= 50 ? 'yes' : 'no').padEnd(13)} ${r.marketSpeed === undefined ? '?' : `${Math.round(r.marketSpeed).toLocaleString('en-US')}×`}`,
      );
  }

  // ---- 3. failover ----
  if (parts.has('failover')) {
    const fdb = await benchDatabase('hcp_bench_scale');
    try {
      const env = envFor(fdb.url, 3600);
      let leader = await start(startHcp(WORKER, env));
      const takeovers: Record<string, number[]> = { projections: [], processes: [], ingestion: [] };
      for (let i = 0; i < failovers; i++) {
        const standby = await start(startHcp(WORKER, env));
        const killedAt = Date.now();
        leader.child.kill('SIGKILL');
        const deadline = Date.now() + 30_000;
        while (Object.keys(takeovers).some((role) => standby.leadingAt(role) === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        for (const role of Object.keys(takeovers)) takeovers[role]!.push((standby.leadingAt(role) ?? Number.NaN) - killedAt);
        progress(`  failover ${i + 1}: ${Object.entries(takeovers).map(([r, t]) => `${r} ${t.at(-1)} ms`).join(', ')}`);
        leader = standby;
      }
      const medians = Object.fromEntries(Object.entries(takeovers).map(([role, t]) => [role, median(t)]));
      report.failoverMs = medians;
      out('');
      out(`failover after SIGKILL of the leading worker (median of ${failovers}): ${Object.entries(medians).map(([r, ms]) => `${r} ${ms} ms`).join(', ')}`);
    } finally {
      for (const p of running.splice(0)) await p.stop();
      await fdb.drop();
    }
  }
  if (args.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
};

try {
  await main();
} finally {
  for (const p of running) p.child.kill('SIGKILL');
  agent.destroy();
}
