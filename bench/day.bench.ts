/**
 * npm run bench:day [-- --scales seed,designed] [--backends pglite,postgres] [--hours 24] [--runs 1] [--durable] [--json]
 *
 * One simulated day of the whole platform (the ERCOT replay, the economic controller and its
 * switches, the demand simulator's arrivals, the scheduler, the lifecycle, metering, billing,
 * every projection brought up to date after every step) as fast as it runs, per scale and
 * backend: wall time, events appended and events/s, placements/s, queue wait p50/p99 by tier
 * against the targets, share of workloads breached, projection lag at the end, and where the
 * time went (each part of the driver's loop, timed in turn).
 *
 * Targets on a 2-core machine, PostgreSQL server: a seed-scale day in under 60 s, a designed-scale
 * day in under 10 min, ≥ 1,000 placements/s. The ratio to each is printed. With --runs N, each
 * figure is the median of N runs. --hours runs part of a day (the figures then are for that part,
 * and say so). Progress goes to stderr, results to stdout. Commits do not wait for the WAL flush,
 * as hcp simulate's do not (cli/simulate.ts says why); --durable makes each wait, as the live
 * platform's appends always do.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { runSimulation, simulationSettings, type SimulationRun } from '../cli/simulate.ts';
import { SCALES, type ScaleName } from '../simulators/platform/scales.ts';
import { formatPace, measurePace, type Pace } from './support/pace.ts';
import { describeMachine, formatMachine } from './support/report.ts';
import { median } from './support/stats.ts';
import { openBackend, serverUrl, unavailable, type BackendName, type OpenBackend } from './switch/backends.ts';

const { values: args } = parseArgs({
  options: {
    scales: { type: 'string', default: 'seed' },
    backends: { type: 'string', default: 'pglite,postgres' },
    hours: { type: 'string', default: '24' },
    runs: { type: 'string', default: '1' },
    seed: { type: 'string', default: 'bench' },
    date: { type: 'string', default: '2023-08-20' },
    durable: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

const TARGETS: Record<ScaleName, { dayWallSeconds: number }> = { seed: { dayWallSeconds: 60 }, designed: { dayWallSeconds: 600 } };
const PLACEMENTS_PER_SECOND_TARGET = 1_000;

const scales = args.scales!.split(',').map((s) => s.trim()) as ScaleName[];
for (const s of scales) if (!(s in SCALES)) throw new Error(`unknown scale ${s} (${Object.keys(SCALES).join(', ')})`);
const backends = args.backends!.split(',').map((b) => b.trim()) as BackendName[];
for (const b of backends) if (b !== 'pglite' && b !== 'postgres') throw new Error(`unknown backend ${b} (pglite, postgres)`);
const hours = Number(args.hours);
if (!(hours > 0 && hours <= 24)) throw new Error(`--hours must be more than 0 and at most 24, got ${args.hours}`);
const runs = Number(args.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${args.runs}`);
const startMs = Date.parse(`${args.date}T00:00:00Z`);
if (Number.isNaN(startMs)) throw new Error(`--date must be YYYY-MM-DD, got ${args.date}`);

const out = (line: string) => {
  if (!args.json) process.stdout.write(`${line}\n`);
};
const progress = (line: string) => process.stderr.write(`${line}\n`);

const fmtMs = (v: number) => (v >= 60_000 ? `${(v / 60_000).toFixed(1)} min` : v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);

/** The median run's figures (each figure its own median). */
const medianOf = (rs: SimulationRun[]) => {
  const m = (f: (r: SimulationRun) => number) => median(rs.map(f));
  const first = rs[0]!;
  return {
    backend: first.backend,
    scale: first.scale,
    fleet: first.fleet,
    workloadsPerDay: first.workloadsPerDay,
    runs: rs.length,
    wallSeconds: m((r) => r.wallSeconds),
    events: m((r) => r.eventsAppended),
    eventsPerSecond: m((r) => r.eventsAppended / r.wallSeconds),
    placements: m((r) => r.placements),
    placementsPerSecond: m((r) => r.placements / r.wallSeconds),
    // what a backlog would get: each placement's own cost (its share of the rounds, and carrying it out)
    placementsPerBusySecond: m((r) => r.placements / ((r.schedulerMs.deciding + r.schedulerMs.placing) / 1000)),
    placingMsEach: m((r) => r.schedulerMs.placing / Math.max(1, r.placements)),
    decidingMsEach: m((r) => r.schedulerMs.deciding / Math.max(1, r.placements)),
    rounds: m((r) => r.rounds),
    roundMs: m((r) => r.schedulerMs.deciding / Math.max(1, r.rounds)),
    submitted: m((r) => r.summary.workloads.submitted),
    waits: first.summary.waits.map((w, i) => ({ ...w, p50Ms: m((r) => r.summary.waits[i]!.p50Ms), p99Ms: m((r) => r.summary.waits[i]!.p99Ms) })),
    shareBreached: m((r) => r.summary.breaches.shareBreached),
    offeredLoad: m((r) => r.summary.offeredLoad),
    gpuUtilization: m((r) => r.summary.gpuUtilization),
    projectionLag: Math.max(...rs.map((r) => r.summary.projectionLag)),
    spentMs: Object.fromEntries(Object.keys(first.spentMs).map((k) => [k, m((r) => r.spentMs[k] ?? 0)])),
  };
};

const report = (r: ReturnType<typeof medianOf>) => {
  const target = TARGETS[r.scale].dayWallSeconds * (hours / 24);
  const spent = Object.entries(r.spentMs).sort((a, b) => b[1] - a[1]);
  const total = r.wallSeconds * 1000;
  return [
    `\n${r.scale} scale on ${r.backend}${r.runs > 1 ? ` (medians of ${r.runs} runs)` : ''}: ${r.fleet.gpus.toLocaleString('en-US')} GPUs, ${r.fleet.asics.toLocaleString('en-US')} ASICs, ${r.submitted.toLocaleString('en-US')} workloads arrived in ${hours} h`,
    `  wall time     ${r.wallSeconds.toFixed(1)} s   (target ${target.toFixed(0)} s${hours < 24 ? ` for ${hours} h` : ' a day'}: ${(r.wallSeconds / target).toFixed(2)}× the target)`,
    `  events        ${r.events.toLocaleString('en-US')} appended, ${Math.round(r.eventsPerSecond).toLocaleString('en-US')}/s`,
    `  placements    ${r.placements.toLocaleString('en-US')}, ${r.placementsPerSecond.toFixed(1)}/s of wall time (the arrivals' pace); ${Math.round(r.placementsPerBusySecond)}/s of the scheduler's own time (what a backlog gets: ${r.placingMsEach.toFixed(2)} ms to carry one out, ${r.decidingMsEach.toFixed(2)} ms of deciding per placement, in ${r.rounds.toLocaleString('en-US')} rounds of ${r.roundMs.toFixed(2)} ms)   (target ${PLACEMENTS_PER_SECOND_TARGET}/s: ${(r.placementsPerBusySecond / PLACEMENTS_PER_SECOND_TARGET).toFixed(2)}×)`,
    `  queue wait    ${r.waits.map((w) => `${w.priority} p50 ${fmtMs(w.p50Ms)} p99 ${fmtMs(w.p99Ms)} (target ${fmtMs(w.targetMs)}, ${w.p99Ms <= w.targetMs ? 'met' : 'MISSED'})`).join('; ')}`,
    `  SLA           ${(r.shareBreached * 100).toFixed(2)} % of workloads breached`,
    `  GPUs          ${(r.gpuUtilization * 100).toFixed(1)} % of GPU time billed; the arrivals asked for ${(r.offeredLoad * 100).toFixed(1)} % (peaks above 100 % make queues whatever the scheduler does)`,
    `  projections   ${r.projectionLag === 0 ? 'lag 0 at the end' : `${r.projectionLag} events behind at the end`}`,
    `  time went to  ${spent.map(([k, v]) => `${k} ${((v / total) * 100).toFixed(0)} %`).join(', ')}`,
  ].join('\n');
};

const results: ReturnType<typeof medianOf>[] = [];
let exitCode = 0;
const open = new Set<OpenBackend>();
process.once('SIGINT', () => void Promise.all([...open].map((b) => b.dispose())).finally(() => process.exit(130)));
try {
  out(
    [
      `workload: ${hours} simulated hour(s) from ${args.date} (ERCOT replay), seed "${args.seed}"; per scale: ${scales.map((s) => `${s} = ${SCALES[s].workloadsPerDay.toLocaleString('en-US')} workloads/day`).join(', ')};`,
      `          whole platform in one process, one step at a time (deterministic: the same events on every backend)`,
      `commits:  ${args.durable ? 'each waits for its WAL flush (--durable)' : "without waiting for the WAL flush, as hcp simulate's are unless --durable (the live platform's appends always wait)"}`,
    ].join('\n'),
  );
  let described = false;
  let pace: Pace | undefined;
  for (const scale of scales)
    for (const name of backends) {
      const problem = await unavailable(name);
      if (problem) {
        out(`\nPostgreSQL server: SKIPPED (${problem})`);
        continue;
      }
      const samples: SimulationRun[] = [];
      for (let i = 0; i < runs; i++) {
        const backend = await openBackend(name, 'bench_day', simulationSettings({ durable: args.durable! }));
        open.add(backend);
        try {
          if (!described) {
            described = true;
            const machine = await describeMachine(backend.db);
            out(formatMachine(machine).split('\n')[0]!);
            out(`load:     1-minute load average ${os.loadavg()[0]!.toFixed(2)} at the start`);
            pace = await measurePace(name === 'postgres' ? serverUrl() : undefined);
            out(formatPace(pace));
          }
          progress(`${scale} scale on ${backend.label}, run ${i + 1} of ${runs} …`);
          samples.push(await runSimulation(backend.db, name, { startMs, hours, scale, perDay: SCALES[scale].workloadsPerDay, seed: args.seed! }, progress));
        } finally {
          await backend.dispose();
          open.delete(backend);
        }
      }
      const r = medianOf(samples);
      results.push(r);
      out(report(r));
      if (r.projectionLag !== 0) exitCode = 1;
    }
  if (args.json) process.stdout.write(`${JSON.stringify({ hours, scales, backends, runs, pace, results }, null, 2)}\n`);
} catch (error) {
  progress(`bench failed: ${(error as Error).stack ?? error}`);
  exitCode = 1;
}
process.exit(exitCode);
