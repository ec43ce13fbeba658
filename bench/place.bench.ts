/**
 * npm run bench:place [-- --backends postgres,pglite] [--scale designed|seed] [--workloads 3000] [--runs 3] [--json]
 *
 * The scheduler under a backlog: how fast it places work that is already waiting. A fleet with
 * every GPU pool serving (the designed scale: 10,000 GPUs), a burst of `workloads` submissions
 * drawn from the demand simulator's mix (tiers, models, GPU types, gangs of 1–8) all at one
 * moment, the scheduler told of them, then one round timed: deciding (the pure round) and
 * carrying its placements out on the pools' and workloads' streams in the store. Printed per
 * backend: placements, the round's wall time, placements per second against the target (≥ 1,000/s;
 * anchors: Slurm is validated at 500 jobs/s sustained, kube-scheduler about 300 pods/s at 30,000
 * nodes), medians over --runs, each on a database of its own.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { PROJECTIONS } from '../cli/platform.ts';
import type { CommandDeps } from '../commands/context.ts';
import { grantQuota, registerCustomer } from '../commands/customers.ts';
import { registerScenario, resourcesOf } from '../commands/fleet.ts';
import { handleCommand } from '../commands/handle.ts';
import { ensurePriceList } from '../commands/price-list.ts';
import { createScheduler } from '../commands/scheduling/scheduler.ts';
import { submitWorkload } from '../commands/workloads.ts';
import { MAX_GRANTED } from '../domain/customer/customer.ts';
import { resourceDecider, resourceStream } from '../domain/resource/resource.ts';
import { manualClock } from '../infra/clock.ts';
import { createPostgresEventStore } from '../infra/event-store/postgres/store.ts';
import { sequentialIds } from '../infra/ids.ts';
import { createLogger } from '../infra/logger.ts';
import { createChangeFeed } from '../projections/change-feed.ts';
import { createProjectionRunner, migrateProjections } from '../projections/runner.ts';
import { arrivals, demandCustomers } from '../simulators/demand/demand.ts';
import { SCALES, fleetSize, type ScaleName } from '../simulators/platform/scales.ts';
import { describeMachine, formatMachine } from './support/report.ts';
import { median } from './support/stats.ts';
import { openBackend, unavailable, type BackendName, type OpenBackend } from './switch/backends.ts';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string', default: 'postgres,pglite' },
    scale: { type: 'string', default: 'designed' },
    workloads: { type: 'string', default: '3000' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const TARGET_PER_SECOND = 1000;
const T0 = Date.parse('2024-03-01T12:00:00Z');
const scale = args.scale as ScaleName;
if (!(scale in SCALES)) throw new Error(`--scale must be one of ${Object.keys(SCALES).join(', ')}, got ${args.scale}`);
const workloads = Number(args.workloads);
const runs = Number(args.runs);
if (!(Number.isInteger(workloads) && workloads > 0)) throw new Error(`--workloads must be a positive integer, got ${args.workloads}`);
if (!(Number.isInteger(runs) && runs > 0)) throw new Error(`--runs must be a positive integer, got ${args.runs}`);
const backends = args.backends!.split(',').map((b) => b.trim()) as BackendName[];
for (const b of backends) if (b !== 'pglite' && b !== 'postgres') throw new Error(`unknown backend ${b} (pglite, postgres)`);
const out = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);

type Sample = { placements: number; waiting: number; roundMs: number; decidingMs: number; placingMs: number };

/** A fleet serving everywhere, a burst waiting, and one round of the scheduler timed. */
const once = async (backend: OpenBackend): Promise<Sample> => {
  const logger = createLogger('silent');
  const store = await createPostgresEventStore(backend.db);
  await migrateProjections(backend.db, PROJECTIONS);
  const runner = createProjectionRunner({ db: backend.db, store, projections: PROJECTIONS, feed: createChangeFeed(), logger });
  const clock = manualClock(new Date(T0));
  const deps: CommandDeps = { store, readModels: backend.db, clock, ids: sequentialIds('b') };
  const caller = (id: string) => ({ commandId: `bench:${id}`, correlationId: 'bench', actor: 'bench' });
  try {
    const { facilities } = SCALES[scale];
    // every pool serving from the start (a registration leaves what exists as it is)
    for (const f of facilities)
      for (const r of resourcesOf(f).filter((x) => x.kind === 'gpu_pool'))
        await handleCommand(store, resourceDecider, resourceStream(r.resourceId), { type: 'RegisterResource', spec: { ...r, mode: 'serving' } }, { ...caller(`pool:${r.resourceId}`), now: clock.now });
    await registerScenario(deps, caller('scenario'), facilities);
    await ensurePriceList(deps);
    const customers = demandCustomers(40, 'place');
    for (const c of customers) {
      await registerCustomer(deps, caller(`register:${c.customerId}`), { customerId: c.customerId, name: c.name, tier: c.tier });
      await grantQuota(deps, caller(`grant:${c.customerId}`), { customerId: c.customerId, gpuSeconds: MAX_GRANTED.gpuSeconds / 1000, budgetMicroUsd: MAX_GRANTED.budgetMicroUsd / 1000 });
    }
    await runner.drain();
    const burst = arrivals({ seed: 'place', startMs: T0, endMs: T0 + 86_400_000, perDay: Math.max(workloads * 4, 1000), customers }).slice(0, workloads);
    for (const a of burst) await submitWorkload(deps, caller(`submit:${a.n}`), { customerId: a.customerId, request: a.request });

    // the scheduler hears of the fleet and the burst, then decides and places in one round
    const scheduler = createScheduler({ deps, facilities, logger });
    for (let batch = await store.readAll({ maxCount: 1000 }); batch.length > 0; batch = await store.readAll({ after: batch.at(-1)!.position, maxCount: 1000 }))
      for (const e of batch) await scheduler.react(e);
    const before = scheduler.snapshot();
    const started = performance.now();
    await scheduler.tick(T0 + 1_000);
    const roundMs = performance.now() - started;
    const after = scheduler.snapshot();
    return { placements: after.placements - before.placements, waiting: after.waiting, roundMs, decidingMs: after.decidingMs - before.decidingMs, placingMs: after.placingMs - before.placingMs };
  } finally {
    await runner.stop();
    await store.close();
  }
};

const results: Array<{ backend: BackendName } & Sample & { perSecond: number }> = [];
let described = false;
for (const name of backends) {
  const problem = await unavailable(name);
  if (problem) {
    out(`\nPostgreSQL server: SKIPPED (${problem})`);
    continue;
  }
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    const backend = await openBackend(name, 'bench_place');
    try {
      if (!described) {
        described = true;
        out(`workload: ${workloads.toLocaleString('en-US')} submissions of the demand simulator's mix waiting at once; a ${scale}-scale fleet (${fleetSize(SCALES[scale].facilities).gpus.toLocaleString('en-US')} GPUs), every pool serving; one scheduling round timed`);
        out(formatMachine(await describeMachine(backend.db)).split('\n')[0]!);
        out(`load:     1-minute load average ${os.loadavg()[0]!.toFixed(2)} at the start`);
      }
      samples.push(await once(backend));
    } finally {
      await backend.dispose();
    }
  }
  const m = (f: (s: Sample) => number) => median(samples.map(f));
  const r = { backend: name, placements: m((s) => s.placements), waiting: m((s) => s.waiting), roundMs: m((s) => s.roundMs), decidingMs: m((s) => s.decidingMs), placingMs: m((s) => s.placingMs), perSecond: m((s) => s.placements / (s.roundMs / 1000)) };
  results.push(r);
  out(
    [
      `\n${name === 'postgres' ? 'PostgreSQL server' : 'PGlite (embedded)'}${runs > 1 ? ` (medians of ${runs} runs)` : ''}:`,
      `  placements   ${r.placements.toLocaleString('en-US')} in one round (${r.waiting.toLocaleString('en-US')} left waiting: no room, or waiting for warm GPUs)`,
      `  round        ${r.roundMs.toFixed(0)} ms: deciding ${r.decidingMs.toFixed(0)} ms, carrying out ${r.placingMs.toFixed(0)} ms, the rest (warming, power) ${(r.roundMs - r.decidingMs - r.placingMs).toFixed(0)} ms`,
      `  throughput   ${Math.round(r.perSecond).toLocaleString('en-US')} placements/s   (target ${TARGET_PER_SECOND}/s: ${(r.perSecond / TARGET_PER_SECOND).toFixed(2)}×)`,
    ].join('\n'),
  );
}
if (args.json) process.stdout.write(`${JSON.stringify({ scale, workloads, runs, results }, null, 2)}\n`);
process.exit(0);
