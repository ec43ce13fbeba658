/**
 * npm run bench:submit [-- --backends postgres,pglite] [--clients 8] [--customers 4] [--seconds 20]
 *                         [--runs 3] [--market replay|off] [--speed 3600] [--split] [--profile DIR] [--bin FILE] [--json]
 *
 * Submitting at load, measured from outside: `hcp start` runs in a child process (the whole
 * platform: projections, process managers, the market replayed at --speed (default 3,600×, the
 * demo's: every submitted hour-long job then runs, completes and is billed within a second, on
 * the same event loop; 1 is production's pace) unless --market off; no demo load), and this
 * process drives it like customers would, with `clients`
 * concurrent GraphQL clients spread over `customers` customers, each sending `submitWorkload`
 * one after another for `seconds` (after a warm-up of its own). Printed per backend: submissions
 * per second, latency p50/p99 (medians over --runs), the ratio to the goal (≥ 500/s with p99
 * ≤ 50 ms on the PostgreSQL server), and a check that nothing was lost or doubled (every
 * acknowledged workload is in the read model once, and no other). --profile DIR writes the
 * server's CPU profile there (node --cpu-prof), to see where the time goes; --split (server only)
 * runs the API in one process and the background work (projections, process managers, ingestion)
 * in another, so each has an event loop of its own; --bin runs another
 * build of the CLI (say, one bundled with esbuild --keep-names, whose profile names functions).
 *
 * On the server each backend gets a database of its own, dropped at the end; PGlite gets a
 * temporary data folder.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { median, quantile } from './support/stats.ts';
import { probeServer, serverUrl } from './switch/backends.ts';
import { benchDatabase, freePort, startHcp } from './support/processes.ts';
import { formatPace, measurePace } from './support/pace.ts';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string', default: 'postgres,pglite' },
    clients: { type: 'string', default: '8' },
    customers: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    runs: { type: 'string', default: '3' },
    market: { type: 'string', default: 'replay' },
    speed: { type: 'string', default: '3600' },
    profile: { type: 'string' },
    split: { type: 'boolean', default: false },
    bin: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const positive = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0)) throw new Error(`--${name} must be a positive number, got ${v}`);
  return n;
};
const clients = Math.floor(positive('clients', args.clients));
const customers = Math.floor(positive('customers', args.customers));
const seconds = positive('seconds', args.seconds);
const warmup = Number(args.warmup);
const runs = Math.floor(positive('runs', args.runs));
const speed = positive('speed', args.speed);
const backends = args.backends!.split(',').map((b) => b.trim());
for (const b of backends) if (b !== 'pglite' && b !== 'postgres') throw new Error(`unknown backend ${b} (pglite, postgres)`);
if (args.market !== 'replay' && args.market !== 'off') throw new Error(`--market is replay or off, got ${args.market}`);

const GOAL = { perSecond: 500, p99Ms: 50 };
const BIN = path.resolve(args.bin ?? path.join(import.meta.dirname, '../bin/hcp.js'));
const ADMIN_KEY = `bench-admin-${randomBytes(12).toString('hex')}`;
const out = (line: string) => {
  if (!args.json) process.stdout.write(`${line}\n`);
};
const progress = (line: string) => process.stderr.write(`${line}\n`);

/** `pids`: every process of the server, whose CPU is counted as the server's. */
type Server = { url: string; pids: number[]; stop(): Promise<void> };

/** `hcp start` on a backend of its own, once it prints its banner. */
const startServer = async (backend: string): Promise<Server> => {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HCP_PORT: String(port),
    HCP_ADMIN_KEY: ADMIN_KEY,
    HCP_DEMO: 'false',
    HCP_DEMO_LOAD: '0',
    HCP_MARKET: args.market,
    HCP_MARKET_SPEED: String(speed),
    HCP_RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'warn',
  };
  let cleanup = async () => {};
  if (backend === 'postgres') {
    const database = await benchDatabase('hcp_bench_submit');
    env.DATABASE_URL = database.url;
    cleanup = database.drop;
  } else {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hcp-bench-submit-'));
    delete env.DATABASE_URL;
    env.HCP_DATA_DIR = dir;
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  }
  const nodeArgs = args.profile ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(args.profile)] : [];
  if (args.split && backend === 'postgres') {
    const worker = await startHcp('projections,processes,ingestion', env, nodeArgs);
    const api = await startHcp('api', env, nodeArgs).catch(async (error) => {
      await worker.stop();
      throw error;
    });
    return {
      url: api.url,
      pids: [api.child.pid!, worker.child.pid!],
      async stop() {
        await api.stop();
        await worker.stop();
        await cleanup();
      },
    };
  }
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let [stdout, stderr] = ['', ''];
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const started = Date.now();
  while (!stdout.includes('HCP is running')) {
    if (child.exitCode !== null) throw new Error(`hcp start exited with ${child.exitCode}:\n${stderr.slice(-3000)}`);
    if (Date.now() - started > 120_000) throw new Error(`hcp start did not come up in 2 minutes:\n${stderr.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pids: [child.pid!],
    async stop() {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 20_000)))]);
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      await cleanup();
    },
  };
};

/**
 * The clients post with node:http over kept-alive connections, one per client: the clients share
 * the machine's two cores with the server, and `fetch` took about twice the CPU per request
 * (1.0–1.2 ms a submission, a sixth of all the CPU a submission cost).
 */
const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
const post = (url: string, headers: Record<string, string>, body: string) =>
  new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });

const gql = async (url: string, key: string, query: string, variables?: Record<string, unknown>) => {
  const res = await post(`${url}/graphql`, { 'content-type': 'application/json', authorization: `Bearer ${key}` }, JSON.stringify({ query, variables }));
  const body = JSON.parse(res.text) as { data?: any; errors?: Array<{ message: string }> };
  if (res.status !== 200 || body.errors) throw new Error(`${res.status}: ${JSON.stringify(body.errors ?? body).slice(0, 300)}`);
  return body.data;
};

const onboard = async (url: string, n: number) => {
  const keys: Array<{ customerId: string; key: string }> = [];
  for (let i = 0; i < n; i++) {
    const { registerCustomer } = await gql(url, ADMIN_KEY, `mutation($n: String!) { registerCustomer(input: {name: $n}) { id } }`, { n: `bench customer ${i + 1}` });
    await gql(url, ADMIN_KEY, `mutation($i: GrantQuotaInput!) { grantQuota(input: $i) { customerId } }`, { i: { customerId: registerCustomer.id, gpuHours: 1_000_000, budgetUsd: '100000000.00' } });
    const { issueApiKey } = await gql(url, ADMIN_KEY, `mutation($c: ID!) { issueApiKey(role: customer, customerId: $c) { key } }`, { c: registerCustomer.id });
    keys.push({ customerId: registerCustomer.id, key: issueApiKey.key });
  }
  return keys;
};

const SUBMIT = `mutation($i: SubmitWorkloadInput!) { submitWorkload(input: $i) { id status } }`;
/** A small batch job: P2/P3 by its type, one GPU for an hour. */
const INPUT = { type: 'ai_inference_batch', model: 'llama-3-8b', gpuType: 'A100', gpuCount: 1, durationHours: 1 };

type Phase = { submitted: number; seconds: number; latenciesMs: number[]; errors: string[]; ids: Array<{ customerId: string; id: string }> };

/** Every client submits one after another until the deadline. */
const drive = async (url: string, keys: Array<{ customerId: string; key: string }>, forSeconds: number): Promise<Phase> => {
  const phase: Phase = { submitted: 0, seconds: 0, latenciesMs: [], errors: [], ids: [] };
  const start = performance.now();
  const deadline = start + forSeconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const { customerId, key } = keys[c % keys.length]!;
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          const { submitWorkload } = await gql(url, key, SUBMIT, { i: INPUT });
          phase.latenciesMs.push(performance.now() - t0);
          phase.ids.push({ customerId, id: submitWorkload.id });
        } catch (e) {
          phase.errors.push((e as Error).message);
        }
      }
    }),
  );
  phase.seconds = (performance.now() - start) / 1000;
  phase.submitted = phase.latenciesMs.length;
  return phase;
};

/** Nothing lost or doubled: the ids acknowledged are distinct, and the read model lists each of them, and no other, for these customers. */
const check = async (url: string, keys: Array<{ customerId: string; key: string }>, acknowledged: Array<{ customerId: string; id: string }>) => {
  const problems: string[] = [];
  if (new Set(acknowledged.map((a) => a.id)).size !== acknowledged.length) problems.push('an id was acknowledged twice');
  for (const { customerId, key } of keys) {
    const mine = new Set(acknowledged.filter((a) => a.customerId === customerId).map((a) => a.id));
    const listed = new Set<string>();
    let after: string | null = null;
    for (;;) {
      const { workloads }: { workloads: { nodes: Array<{ id: string }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await gql(
        url,
        key,
        `query($a: String) { workloads(first: 100, after: $a) { nodes { id } pageInfo { hasNextPage endCursor } } }`,
        { a: after },
      );
      for (const n of workloads.nodes) {
        if (listed.has(n.id)) problems.push(`${n.id} listed twice`);
        listed.add(n.id);
      }
      if (!workloads.pageInfo.hasNextPage) break;
      after = workloads.pageInfo.endCursor;
    }
    const lost = [...mine].filter((id) => !listed.has(id));
    const extra = [...listed].filter((id) => !mine.has(id));
    if (lost.length) problems.push(`${lost.length} acknowledged workloads of ${customerId} are missing (${lost.slice(0, 3).join(', ')})`);
    if (extra.length) problems.push(`${extra.length} workloads of ${customerId} were never acknowledged (${extra.slice(0, 3).join(', ')})`);
  }
  return problems;
};

/** CPU time (user + system, ms) of a process, or of every process with that command name (Linux /proc). */
const TICK_MS = 10; // USER_HZ is 100 on Linux
const cpuOfPid = (pid: number) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
};
/** CPU time of every process with that command name, by pid. */
const cpuByPid = (comm: string) => {
  const out = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm) out.set(Number(d), cpuOfPid(Number(d)));
    } catch {
      // gone meanwhile
    }
  }
  return out;
};
/** Where the CPU went during a phase: the server, PostgreSQL (all its processes), the clients (this process). */
const cpuNow = (serverPids: readonly number[]) => ({ server: serverPids.reduce((ms, pid) => ms + cpuOfPid(pid), 0), postgres: cpuByPid('postgres'), clients: (process.cpuUsage().user + process.cpuUsage().system) / 1000 });
type CpuSnapshot = ReturnType<typeof cpuNow>;
/** CPU ms spent between two snapshots (a PostgreSQL process that ended meanwhile is not counted: a slight underestimate). */
const cpuSpent = (a: CpuSnapshot, b: CpuSnapshot) => {
  let postgres = 0;
  for (const [pid, ms] of b.postgres) postgres += ms - (a.postgres.get(pid) ?? 0);
  return { server: b.server - a.server, postgres, clients: b.clients - a.clients };
};

const fmt = (ms: number) => `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;

const main = async () => {
  const cpus = os.cpus();
  out(`bench:submit — submitWorkload over GraphQL from ${clients} clients of ${customers} customers, ${seconds} s per run after ${warmup} s of warm-up, median of ${runs} runs`);
  out(`machine:  ${os.type()} ${os.release()} ${os.arch()}, ${cpus.length} × ${cpus[0]?.model ?? 'unknown'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  out(
    `server:   hcp start in ${args.split ? 'two child processes on the server (--role api, and a worker with every other role)' : 'a child process'} (market ${args.market === 'off' ? 'off' : `replayed at ${speed}×`}, no demo load); clients in this process`,
  );
  out(`goal:     ≥ ${GOAL.perSecond}/s with p99 ≤ ${GOAL.p99Ms} ms on the PostgreSQL server`);
  const pace = await measurePace(backends.includes('postgres') && !(await probeServer(serverUrl())) ? serverUrl() : undefined);
  out(formatPace(pace));
  const results: Record<string, unknown> = {};
  for (const backend of backends) {
    if (backend === 'postgres') {
      const why = await probeServer(serverUrl());
      if (why) {
        out(`\n${backend}: skipped, the server does not answer (${why})`);
        continue;
      }
    }
    const perRun: Array<{ perSecond: number; p50Ms: number; p99Ms: number; errors: number; problems: string[]; cpuMsPer: Record<'server' | 'postgres' | 'clients', number> }> = [];
    for (let r = 0; r < runs; r++) {
      progress(`${backend}: run ${r + 1}/${runs}: starting hcp`);
      const server = await startServer(backend);
      try {
        const keys = await onboard(server.url, customers);
        // the warm-up's submissions are checked with the rest, not counted in the figures
        const warm = warmup > 0 ? (await drive(server.url, keys, warmup)).ids : [];
        const cpu0 = cpuNow(server.pids);
        const phase = await drive(server.url, keys, seconds);
        const cpu1 = cpuNow(server.pids);
        const spent = cpuSpent(cpu0, cpu1);
        const cpuMsPer = { server: spent.server / Math.max(1, phase.submitted), postgres: spent.postgres / Math.max(1, phase.submitted), clients: spent.clients / Math.max(1, phase.submitted) };
        const problems = await check(server.url, keys, [...warm, ...phase.ids]);
        perRun.push({ perSecond: phase.submitted / phase.seconds, p50Ms: quantile(phase.latenciesMs, 0.5), p99Ms: quantile(phase.latenciesMs, 0.99), errors: phase.errors.length, problems, cpuMsPer });
        progress(`${backend}: run ${r + 1}: ${(phase.submitted / phase.seconds).toFixed(1)}/s, p50 ${fmt(quantile(phase.latenciesMs, 0.5))}, p99 ${fmt(quantile(phase.latenciesMs, 0.99))}, ${phase.errors.length} errors${phase.errors[0] ? ` (first: ${phase.errors[0]})` : ''}`);
      } finally {
        await server.stop();
      }
    }
    const m = {
      perSecond: median(perRun.map((x) => x.perSecond)),
      p50Ms: median(perRun.map((x) => x.p50Ms)),
      p99Ms: median(perRun.map((x) => x.p99Ms)),
      errors: perRun.reduce((n, x) => n + x.errors, 0),
      problems: perRun.flatMap((x) => x.problems),
      cpuMsPer: Object.fromEntries((['server', 'postgres', 'clients'] as const).map((k) => [k, median(perRun.map((x) => x.cpuMsPer[k]))])) as Record<'server' | 'postgres' | 'clients', number>,
    };
    results[backend] = { ...m, runs: perRun };
    out(`\n${backend === 'postgres' ? 'PostgreSQL server' : 'PGlite (embedded)'}`);
    out(`  throughput  ${m.perSecond.toFixed(1)} submissions/s   (goal ${GOAL.perSecond}/s: ${(m.perSecond / GOAL.perSecond).toFixed(3)}×)`);
    out(`  latency     p50 ${fmt(m.p50Ms)}, p99 ${fmt(m.p99Ms)}   (goal p99 ≤ ${GOAL.p99Ms} ms: ${(m.p99Ms / GOAL.p99Ms).toFixed(2)}× the ceiling)`);
    const cpuTotal = m.cpuMsPer.server + m.cpuMsPer.postgres + m.cpuMsPer.clients;
    out(
      `  CPU         ${cpuTotal.toFixed(2)} ms per submission: server ${m.cpuMsPer.server.toFixed(2)}, PostgreSQL ${m.cpuMsPer.postgres.toFixed(2)}${backend === 'pglite' ? ' (none: embedded)' : ''}, clients ${m.cpuMsPer.clients.toFixed(2)}; ${os.cpus().length} cores give at most ${((os.cpus().length * 1000) / cpuTotal).toFixed(0)}/s at that cost`,
    );
    out(`  errors      ${m.errors}`);
    out(`  lost/doubled ${m.problems.length === 0 ? 'none (every acknowledged workload listed once, no other)' : m.problems.join('; ')}`);
  }
  if (args.json) process.stdout.write(`${JSON.stringify({ clients, customers, seconds, runs, market: args.market, speed, pace, results }, null, 2)}\n`);
};

await main();
