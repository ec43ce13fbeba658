/**
 * Reliability: a simulated stretch of the whole platform (`hcp simulate`, in a child process, on
 * the PostgreSQL server) killed with SIGKILL at random points, again and again, each time started
 * again with the same options, then left to finish, ends as it should:
 *
 *   1. every run that ended with usage is billed exactly once (one BillingLineRecorded per line id
 *      `<workloadId>:run-<n>`, one QuotaConsumed per billed use), and nothing else is billed;
 *   2. no quota leaked: each customer's folded reserved quota is the sum of the reservations of its
 *      workloads not yet ended, each such reservation is what the workload reserved (and extended)
 *      less what its runs were billed, and an ended workload holds none;
 *   3. no GPU leaked: in every pool's folded state only allocated or running workloads hold GPUs,
 *      each exactly its gpuCount, the ones its allocation named, no GPU named by two; and all along
 *      the history, a run was on GPUs only while its pool held exactly those for it, and no GPU
 *      stayed loading a model (unallocatable) long after it was due to be ready;
 *   4. every read model equals a clean rebuild from the first event (into a schema of its own);
 *   5. the same workloads are submitted as in an unbroken run of the same options (run first, in a
 *      schema of its own). How they are scheduled may differ in detail (which GPUs, which runs are
 *      preempted): a restarted process rebuilds what it knew from the read models, but not, for
 *      instance, the telemetry simulator's random state; the differences are printed, not asserted.
 *
 * The kills are spread over the stretch: the first a moment after start (1.5–3 s: booting, setting
 * up the world), the others each in its own slice of the reference run's events (the child is
 * killed once the store holds a seeded random share of them, and it has appended something since it
 * started). Each kill is checked to have hit a live process that had appended work.
 *
 * Runs only with TEST_DATABASE_URL (a PostgreSQL server): about 100 s. CRASH_SEED changes the
 * kill plan; CRASH_KILLS the number of kills (at least 5); CRASH_KEEP=1 keeps the three schemas
 * (crashed, unbroken reference, rebuild) for a post-mortem instead of dropping them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECTIONS } from '../../cli/platform.ts';
import type { SimulationRun } from '../../cli/simulate.ts';
import { loadState } from '../../commands/handle.ts';
import { customerDecider, customerStream, type CustomerState, type Reservation } from '../../domain/customer/customer.ts';
import { gpuIdOf } from '../../domain/fleet/gpus.ts';
import { resourceDecider, resourceStream, type ResourceState } from '../../domain/resource/resource.ts';
import { ON_GPUS, TERMINAL, workloadDecider, workloadStream, type ActiveWorkload, type WorkloadState } from '../../domain/workload/workload.ts';
import { createPostgresEventStore } from '../../infra/event-store/postgres/store.ts';
import type { EventStore } from '../../infra/event-store/types.ts';
import { createLogger } from '../../infra/logger.ts';
import { createPgDatabase, type Database } from '../../infra/postgres/database.ts';
import { createChangeFeed } from '../../projections/change-feed.ts';
import { createProjectionRunner, migrateProjections } from '../../projections/runner.ts';
import { createRng } from '../../simulators/random.ts';
import { TEST_DATABASE_URL } from '../support/databases.ts';
import { entriesOf, getIn } from '../../domain/persistent-map.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/hcp.js');
/** About 28 s unbroken on a 2-core machine: 989 workloads, ~1,000 placements, ~11,200 events. */
const SIM_OPTIONS = ['--date', '2023-08-20', '--hours', '5', '--per-day', '8000', '--seed', 'crash-test'];
const SIM_END_MS = Date.parse('2023-08-20T05:00:00Z');
/** A GPU still loading a model this long after it was due to be ready is stuck (and unusable). */
const STUCK_WARMING_MS = 10 * 60_000;
const KILL_SEED = process.env.CRASH_SEED ?? 'hcp-crash-1';
const KILLS = Math.max(5, Number(process.env.CRASH_KILLS ?? 6));
/** A child that neither finishes nor reaches its kill point in this long is stuck. */
const SEGMENT_TIMEOUT_MS = 120_000;

/** The events that end a run (each carries the run's usage, null when it never started). */
const RUN_ENDS = ['WorkloadCompleted', 'WorkloadPreempted', 'WorkloadInterrupted', 'WorkloadFailed', 'WorkloadCancelled'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Child = {
  process: ChildProcess;
  startedMs: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive: () => boolean;
};

const startSimulation = (url: string, schema: string, extra: string[]): Child => {
  const child = spawn(process.execPath, [BIN, 'simulate', ...SIM_OPTIONS, '--database-url', url, '--schema', schema, ...extra], {
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let [stdout, stderr] = ['', ''];
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    process: child,
    startedMs: Date.now(),
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
  };
};

/** The final summary a `--json` run prints; fails with the child's stderr when it did not finish cleanly. */
const finished = async (child: Child, what: string): Promise<SimulationRun> => {
  const { code, signal } = await child.exited;
  if (code !== 0) throw new Error(`${what} exited with ${signal ?? `code ${code}`}:\n${child.stderr().slice(-4000)}`);
  return JSON.parse(child.stdout()) as SimulationRun;
};

type StoredEvent = { stream: string; type: string; data: Record<string, any>; occurredAt: string; commandId: string };

type Kill = {
  n: number;
  afterMs: number;
  /** Events in the store when this child started, and just after it was killed. */
  eventsAtStart: number;
  eventsAtKill: number;
  lastEvent: string;
  /** Where the driver had saved its place (virtual time), and the child's last progress line. */
  savedAt: string | null;
  progress: string | null;
};

describe.runIf(TEST_DATABASE_URL)('crash test: the platform killed with SIGKILL at random points, restarted each time (PostgreSQL server)', () => {
  const url = TEST_DATABASE_URL!;
  const base = `crash_${randomBytes(4).toString('hex')}`;
  const schemas = { crash: base, reference: `${base}_ref`, rebuild: `${base}_rb` };
  const admin = new pg.Client({ connectionString: url });
  const opened: Database[] = [];
  const stores: EventStore[] = [];
  let live: Child | undefined;

  const open = async (schema: string) => {
    const db = await createPgDatabase({ connectionString: url, schema, maxConnections: 10 });
    opened.push(db);
    return db;
  };
  const storeOf = async (db: Database) => {
    const store = await createPostgresEventStore(db);
    stores.push(store);
    return store;
  };
  const count = async (schema: string) => {
    const [row] = (await admin.query(`SELECT count(*)::int AS n FROM ${schema}.hcp_events`).catch(() => ({ rows: [{ n: 0 }] }))).rows;
    return row.n as number;
  };
  const eventsOf = async (schema: string): Promise<StoredEvent[]> =>
    (
      await admin.query(
        `SELECT stream_name AS stream, event_type AS type, data, metadata->>'occurredAt' AS "occurredAt", metadata->>'commandId' AS "commandId"
           FROM ${schema}.hcp_events ORDER BY transaction_id, position`,
      )
    ).rows;

  afterAll(async () => {
    if (live?.alive()) {
      live.process.kill('SIGKILL');
      await live.exited;
    }
    await Promise.all(stores.map((s) => s.close().catch(() => {})));
    await Promise.all(opened.map((db) => db.close().catch(() => {})));
    if (process.env.CRASH_KEEP) console.log(`kept schemas ${Object.values(schemas).join(', ')} (CRASH_KEEP)`);
    else for (const schema of Object.values(schemas)) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await admin.end().catch(() => {});
  });

  it(`bills every run once, leaks no quota and no GPU, and its read models equal a rebuild, after ${KILLS} kills`, { timeout: 300_000 }, async () => {
    const t0 = Date.now();
    await admin.connect();

    // the unbroken reference: what the same options come to, and how many events that takes
    const reference = await finished(startSimulation(url, schemas.reference, ['--fresh', '--json']), 'the unbroken reference run');
    const referenceSeconds = (Date.now() - t0) / 1000;
    const totalEvents = reference.summary.events;
    expect(totalEvents).toBeGreaterThan(1000);

    // the kill plan: the first a moment after start, then one in each slice of the stretch
    const rng = createRng(`crash-kills/${KILL_SEED}`);
    const plan = [
      { minDelayMs: rng.uniform(1500, 3000), targetEvents: 1 },
      ...Array.from({ length: KILLS - 1 }, (_, i) => ({
        minDelayMs: rng.uniform(1500, 3000),
        targetEvents: Math.round(totalEvents * (0.03 + (0.9 * (i + rng.next())) / (KILLS - 1))),
      })),
    ];

    const kills: Kill[] = [];
    const segments: string[] = [];
    let runNo = 0;
    for (const step of plan) {
      const eventsAtStart = await count(schemas.crash);
      const child = (live = startSimulation(url, schemas.crash, runNo++ === 0 ? ['--fresh'] : []));
      // wait for the kill point: long enough after the start, the store past the target, and
      // something appended by this child (it is at work, not booting)
      let reached = false;
      while (child.alive()) {
        const elapsed = Date.now() - child.startedMs;
        if (elapsed > SEGMENT_TIMEOUT_MS) throw new Error(`run ${runNo} neither finished nor reached its kill point in ${SEGMENT_TIMEOUT_MS} ms:\n${child.stderr().slice(-2000)}`);
        if (elapsed >= step.minDelayMs) {
          const n = await count(schemas.crash);
          if (n > eventsAtStart && n >= step.targetEvents) {
            reached = true;
            break;
          }
        }
        await sleep(25);
      }
      if (!reached) {
        // it finished before its kill point (the plan overshot): no kill
        const { code, signal } = await child.exited;
        if (code !== 0) throw new Error(`run ${runNo} exited with ${signal ?? `code ${code}`} before it was killed:\n${child.stderr().slice(-4000)}`);
        segments.push(`run ${runNo}: finished on its own before its kill point (${step.targetEvents} events)`);
        break;
      }
      await sleep(rng.uniform(0, 200));
      const aliveWhenKilled = child.alive();
      const afterMs = Date.now() - child.startedMs;
      child.process.kill('SIGKILL');
      const { code, signal } = await child.exited;
      if (!aliveWhenKilled || signal !== 'SIGKILL') {
        if (code !== 0) throw new Error(`run ${runNo} exited with ${signal ?? `code ${code}`} before it was killed:\n${child.stderr().slice(-4000)}`);
        segments.push(`run ${runNo}: finished on its own just before the kill`);
        break;
      }
      const eventsAtKill = await count(schemas.crash);
      const [last] = (await admin.query(`SELECT event_type, metadata->>'occurredAt' AS at FROM ${schemas.crash}.hcp_events ORDER BY transaction_id DESC, position DESC LIMIT 1`)).rows;
      const [saved] = (await admin.query(`SELECT at FROM ${schemas.crash}.hcp_simulations`).catch(() => ({ rows: [] }))).rows;
      const progress = child.stderr().trim().split('\n').filter((l) => /^\d{4}-/.test(l)).at(-1) ?? null;
      const kill: Kill = {
        n: kills.length + 1,
        afterMs,
        eventsAtStart,
        eventsAtKill,
        lastEvent: last ? `${last.event_type} @ ${last.at}` : 'none',
        savedAt: saved ? new Date(saved.at).toISOString() : null,
        progress,
      };
      kills.push(kill);
      segments.push(
        `kill ${kill.n}: ${(afterMs / 1000).toFixed(2)} s into run ${runNo}, store ${eventsAtStart} → ${eventsAtKill} events (${((100 * eventsAtKill) / totalEvents).toFixed(0)} % of the reference), last ${kill.lastEvent}; driver's saved place ${kill.savedAt ?? 'none yet'}; last progress: ${progress ?? 'none'}`,
      );
    }
    // then left to finish (a child that finished on its own above is asked once more: it has nothing left to do)
    const restarted = Date.now();
    const final = await finished((live = startSimulation(url, schemas.crash, runNo === 0 ? ['--fresh', '--json'] : ['--json'])), 'the final run after the kills');
    segments.push(`run ${runNo + 1}: to the end in ${((Date.now() - restarted) / 1000).toFixed(1)} s, ${final.summary.events} events in the store`);
    const crashSeconds = (Date.now() - t0) / 1000 - referenceSeconds;

    console.log(
      [
        `crash test ${base} (kill plan seed ${KILL_SEED}): reference ${referenceSeconds.toFixed(1)} s, ${totalEvents} events; crashed run ${crashSeconds.toFixed(1)} s`,
        ...segments.map((s) => `  ${s}`),
      ].join('\n'),
    );

    // the kills were real: each hit a live child at work, and the run went on past the first
    expect(kills.length, segments.join('\n')).toBeGreaterThanOrEqual(5);
    for (const k of kills) expect(k.eventsAtKill, `kill ${k.n}: the child had appended nothing`).toBeGreaterThan(k.eventsAtStart);
    expect(final.summary.events).toBeGreaterThan(kills[0]!.eventsAtKill);
    expect(final.summary.events).toBeGreaterThan(kills.at(-1)!.eventsAtKill);
    expect(final.summary.projectionLag).toBe(0);

    const db = await open(schemas.crash);
    const store = await storeOf(db);
    const events = await eventsOf(schemas.crash);
    const ofType = (...types: string[]) => events.filter((e) => types.includes(e.type));
    const duplicates = (ids: string[]) => {
      const seen = new Map<string, number>();
      for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
      return [...seen].filter(([, n]) => n > 1).map(([id, n]) => `${id} ×${n}`);
    };

    // 1. every run that ended with usage billed exactly once, and nothing else
    const runEnds = ofType(...RUN_ENDS).filter((e) => e.data.usage);
    const usageOf = new Map(runEnds.map((e) => [`${e.data.workloadId}:run-${e.data.usage.run}`, e.data.usage]));
    const lines = ofType('BillingLineRecorded');
    const lineIds = lines.map((e) => e.data.lineId as string);
    expect.soft(duplicates(runEnds.map((e) => `${e.data.workloadId}:run-${e.data.usage.run}`)), 'a run ended twice').toEqual([]);
    expect.soft(duplicates(lineIds), 'a line billed more than once').toEqual([]);
    const billed = new Set(lineIds);
    expect.soft([...usageOf.keys()].filter((id) => !billed.has(id)), 'runs that ended with usage but were not billed').toEqual([]);
    expect.soft(lineIds.filter((id) => !usageOf.has(id)), 'lines billed without a run that ended with usage').toEqual([]);
    const amiss = lines.flatMap((l) => {
      const u = usageOf.get(l.data.lineId);
      return u && (u.gpuSeconds !== l.data.gpuSeconds || u.amountMicroUsd !== l.data.amountMicroUsd)
        ? [`${l.data.lineId}: billed ${l.data.gpuSeconds} GPU-s for ${l.data.amountMicroUsd}, the run used ${u.gpuSeconds} GPU-s for ${u.amountMicroUsd}`]
        : [];
    });
    expect.soft(amiss, 'lines that do not bill their run\'s usage').toEqual([]);
    // each billed use consumed once out of the reservation (a zero use consumes nothing)
    const consumedIds = ofType('QuotaConsumed').map((e) => `${e.data.workloadId}:run-${e.data.run}`);
    expect.soft(duplicates(consumedIds), 'a run consumed quota more than once').toEqual([]);
    const owed = new Set(lines.filter((l) => l.data.gpuSeconds > 0 || l.data.amountMicroUsd > 0).map((l) => l.data.lineId as string));
    expect.soft([...owed].filter((id) => !consumedIds.includes(id)), 'billed runs whose use was never consumed').toEqual([]);
    expect.soft(consumedIds.filter((id) => !owed.has(id)), 'quota consumed without a billed use').toEqual([]);
    expect.soft(duplicates(ofType('SlaCreditIssued').map((e) => e.data.creditId)), 'a credit issued twice').toEqual([]);
    expect.soft(duplicates(ofType('InvoiceIssued').map((e) => e.data.invoiceId)), 'an invoice issued twice').toEqual([]);
    expect(lines.length).toBeGreaterThan(100);

    // the folded states: every workload, customer and GPU pool, by the real deciders
    const workloadIds = ofType('WorkloadSubmitted').map((e) => e.data.workloadId as string);
    expect.soft(duplicates(workloadIds), 'a workload submitted twice').toEqual([]);
    const workloads = new Map<string, ActiveWorkload>();
    for (let i = 0; i < workloadIds.length; i += 20)
      await Promise.all(
        workloadIds.slice(i, i + 20).map(async (id) => {
          const s: WorkloadState = await loadState(store, workloadDecider, workloadStream(id));
          if (s.status === 'none') throw new Error(`workload ${id} submitted but folds to none`);
          workloads.set(id, s);
        }),
      );

    // 2. no quota leaked
    const extended = new Map<string, Reservation>();
    for (const e of ofType('QuotaReservationExtended')) {
      const x = extended.get(e.data.workloadId) ?? { gpuSeconds: 0, budgetMicroUsd: 0 };
      extended.set(e.data.workloadId, { gpuSeconds: x.gpuSeconds + e.data.gpuSeconds, budgetMicroUsd: x.budgetMicroUsd + e.data.budgetMicroUsd });
    }
    const billedOf = new Map<string, Reservation>();
    for (const l of lines) {
      const x = billedOf.get(l.data.workloadId) ?? { gpuSeconds: 0, budgetMicroUsd: 0 };
      billedOf.set(l.data.workloadId, { gpuSeconds: x.gpuSeconds + l.data.gpuSeconds, budgetMicroUsd: x.budgetMicroUsd + l.data.amountMicroUsd });
    }
    const customerIds = ofType('CustomerRegistered').map((e) => e.data.customerId as string);
    const quotaProblems: string[] = [];
    let activeReservations = 0;
    for (const customerId of customerIds) {
      const c: CustomerState = await loadState(store, customerDecider, customerStream(customerId));
      if (c.status !== 'registered') throw new Error(`customer ${customerId} folds to ${c.status}`);
      const mine = [...workloads.values()].filter((w) => w.customerId === customerId);
      const active = mine.filter((w) => !TERMINAL.has(w.status));
      const sum = active.reduce((s, w) => ({ gpuSeconds: s.gpuSeconds + (getIn(c.reservations, w.workloadId)?.gpuSeconds ?? 0), budgetMicroUsd: s.budgetMicroUsd + (getIn(c.reservations, w.workloadId)?.budgetMicroUsd ?? 0) }), { gpuSeconds: 0, budgetMicroUsd: 0 });
      activeReservations += active.filter((w) => getIn(c.reservations, w.workloadId)).length;
      if (c.balance.reserved.gpuSeconds !== sum.gpuSeconds || c.balance.reserved.budgetMicroUsd !== sum.budgetMicroUsd)
        quotaProblems.push(`${customerId}: reserved ${JSON.stringify(c.balance.reserved)}, but its workloads not yet ended hold ${JSON.stringify(sum)}`);
      for (const w of mine.filter((w) => TERMINAL.has(w.status)))
        if (getIn(c.reservations, w.workloadId)) quotaProblems.push(`${customerId}: ${w.status} workload ${w.workloadId} still holds ${JSON.stringify(getIn(c.reservations, w.workloadId))}`);
      for (const [id] of entriesOf(c.reservations))
        if (!mine.some((w) => w.workloadId === id)) quotaProblems.push(`${customerId}: a reservation for ${id}, which is not one of its workloads (never opened?)`);
      // each live reservation is what the workload reserved and extended, less what its runs were billed
      for (const w of active) {
        const ext = extended.get(w.workloadId) ?? { gpuSeconds: 0, budgetMicroUsd: 0 };
        const used = billedOf.get(w.workloadId) ?? { gpuSeconds: 0, budgetMicroUsd: 0 };
        const expected = { gpuSeconds: w.reservedGpuSeconds + ext.gpuSeconds - used.gpuSeconds, budgetMicroUsd: w.reservedBudgetMicroUsd + ext.budgetMicroUsd - used.budgetMicroUsd };
        const held = getIn(c.reservations, w.workloadId) ?? { gpuSeconds: 0, budgetMicroUsd: 0 };
        if (held.gpuSeconds !== expected.gpuSeconds || held.budgetMicroUsd !== expected.budgetMicroUsd)
          quotaProblems.push(`${customerId}: ${w.status} workload ${w.workloadId} holds ${JSON.stringify(held)}, expected ${JSON.stringify(expected)}`);
      }
      // what it consumed is what it was billed
      const billedTotal = lines.filter((l) => l.data.customerId === customerId).reduce((s, l) => ({ gpuSeconds: s.gpuSeconds + l.data.gpuSeconds, budgetMicroUsd: s.budgetMicroUsd + l.data.amountMicroUsd }), { gpuSeconds: 0, budgetMicroUsd: 0 });
      if (c.balance.consumed.gpuSeconds !== billedTotal.gpuSeconds || c.balance.consumed.budgetMicroUsd !== billedTotal.budgetMicroUsd)
        quotaProblems.push(`${customerId}: consumed ${JSON.stringify(c.balance.consumed)}, billed ${JSON.stringify(billedTotal)}`);
    }
    expect.soft(quotaProblems, 'quota leaked').toEqual([]);

    // 3. no GPU leaked
    const pools = ofType('ResourceRegistered').filter((e) => e.data.kind === 'gpu_pool').map((e) => e.data.resourceId as string);
    const poolStates = new Map<string, Extract<ResourceState, { status: 'registered' }>>();
    for (const id of pools) {
      const s = await loadState(store, resourceDecider, resourceStream(id));
      if (s.status !== 'registered' || !s.pool) throw new Error(`pool ${id} folds to ${s.status}`);
      poolStates.set(id, s);
    }
    const gpuProblems: string[] = [];
    let busyGpus = 0;
    for (const [id, s] of poolStates) {
      const pool = s.pool!;
      for (const [workloadId, held] of entriesOf(pool.holders)) {
        const w = workloads.get(workloadId);
        const where = `${id}: ${workloadId} (run ${held.run}, GPUs ${held.indexes.join(',')})`;
        if (!w) {
          gpuProblems.push(`${where} holds GPUs but is no workload`);
          continue;
        }
        if (!ON_GPUS.has(w.status)) gpuProblems.push(`${where} holds GPUs but is ${w.status}`);
        else if (w.current?.resourceId !== id || w.current.run !== held.run) gpuProblems.push(`${where} holds GPUs, but its allocation is run ${w.current?.run} on ${w.current?.resourceId}`);
        else if ([...w.current.gpuIds].sort().join() !== held.indexes.map((i) => gpuIdOf(id, pool.gpuType, i)).sort().join())
          gpuProblems.push(`${where} holds other GPUs than its allocation named (${w.current.gpuIds.join(',')})`);
        if (held.indexes.length !== w.request.gpuCount) gpuProblems.push(`${where} holds ${held.indexes.length} GPUs, asked for ${w.request.gpuCount}`);
        if (getIn(s.allocations, workloadId) !== held.indexes.length) gpuProblems.push(`${where}: the resource counts ${getIn(s.allocations, workloadId)} units for it`);
        for (const i of held.indexes) if (pool.gpus[i]?.busy?.workloadId !== workloadId) gpuProblems.push(`${where}: GPU ${i} is not busy with it (${pool.gpus[i]?.busy?.workloadId ?? 'idle'})`);
      }
      for (const g of pool.gpus) {
        if (!g.busy) continue;
        busyGpus++;
        if (!getIn(pool.holders, g.busy.workloadId)?.indexes.includes(g.index)) gpuProblems.push(`${id}: GPU ${g.index} busy with ${g.busy.workloadId}, which does not hold it`);
      }
      for (const [workloadId] of entriesOf(s.allocations)) if (!getIn(pool.holders, workloadId)) gpuProblems.push(`${id}: ${workloadId} counted allocated but holds no GPU`);
    }
    const onGpus = [...workloads.values()].filter((w) => ON_GPUS.has(w.status));
    /** What the pool's stream says of a workload's GPUs: each allocation and release, with the command that appended it. */
    const poolHistory = (poolId: string, workloadId: string) =>
      events
        .filter((e) => e.stream === resourceStream(poolId) && e.data.workloadId === workloadId)
        .map((e) => `${e.type}(run ${e.data.run}, ${(e.data.gpuIds ?? []).join(' ')}) @ ${e.occurredAt} by ${e.commandId}`)
        .join('; ');
    const usedBy = new Map<string, string>();
    for (const w of onGpus) {
      const held = w.current && getIn(poolStates.get(w.current.resourceId)!.pool!.holders, w.workloadId);
      if (!held || held.run !== w.current!.run)
        gpuProblems.push(`${w.status} workload ${w.workloadId} (run ${w.run} on ${w.current?.resourceId}, GPUs ${w.current?.gpuIds.join(' ')}) holds no GPUs there; the pool's stream: ${poolHistory(w.current!.resourceId, w.workloadId)}`);
      // a GPU serves at most one workload (invariant 2): no two allocations name the same GPU
      for (const g of w.current?.gpuIds ?? []) {
        if (usedBy.has(g)) gpuProblems.push(`GPU ${g} allocated to both ${usedBy.get(g)} and ${w.workloadId}`);
        usedBy.set(g, w.workloadId);
      }
    }
    // and at every moment before: a run is on GPUs only while its pool holds exactly those for it
    const poolHeld = new Map<string, { pool: string; gpus: string }>();
    const liveRuns = new Set<string>();
    for (const e of events) {
      const run = `${e.data.workloadId}:run-${e.data.run}`;
      if (e.type === 'ResourceAllocated') poolHeld.set(run, { pool: e.data.resourceId, gpus: [...(e.data.gpuIds ?? [])].sort().join(' ') });
      else if (e.type === 'ResourceReleased') {
        if (liveRuns.has(run)) gpuProblems.push(`${run}: its GPUs released on ${e.data.resourceId} @ ${e.occurredAt} by ${e.commandId} while the run was on them`);
        poolHeld.delete(run);
      } else if (e.type === 'ResourcesAllocated') {
        const [held, gpus] = [poolHeld.get(run), [...e.data.gpuIds].sort().join(' ')];
        if (!held || held.pool !== e.data.resourceId || held.gpus !== gpus)
          gpuProblems.push(`${run}: allocated ${gpus} on ${e.data.resourceId} @ ${e.occurredAt} by ${e.commandId}, but the pool holds ${held ? `${held.gpus} on ${held.pool}` : 'nothing'} for it; the pool's stream: ${poolHistory(e.data.resourceId, e.data.workloadId)}`);
        liveRuns.add(run);
      } else if (RUN_ENDS.includes(e.type) && e.data.run !== undefined) liveRuns.delete(run);
    }
    // no GPU left loading a model long after it was due to be ready (a GPU loading cannot be allocated)
    const warming = new Map<string, { stream: string; readyAtMs: number; model: string; commandId: string }>();
    for (const e of events) {
      if (!e.stream.startsWith('resource-')) continue;
      const at = Date.parse(e.occurredAt);
      const stuck = [...warming].filter(([, w]) => w.stream === e.stream && at > w.readyAtMs + STUCK_WARMING_MS);
      if (stuck.length > 0) {
        const [, w] = stuck[0]!;
        gpuProblems.push(
          `${e.stream}: ${stuck.length} GPUs (${stuck.slice(0, 3).map(([g]) => g).join(', ')}, …) still loading ${w.model} @ ${e.occurredAt}, due ready @ ${new Date(w.readyAtMs).toISOString()} (${w.commandId})`,
        );
        for (const [g] of stuck) warming.delete(g);
      }
      const gpus: string[] = e.data.gpuIds ?? (e.data.gpuId ? [e.data.gpuId] : []);
      if (e.type === 'GpusWarming') for (const g of gpus) warming.set(g, { stream: e.stream, readyAtMs: Date.parse(e.data.readyAt), model: e.data.model, commandId: e.commandId });
      else if (['GpusWarmed', 'GpusCooled', 'ResourceAllocated'].includes(e.type) || (e.type === 'ResourceHealthChanged' && e.data.health === 'failed')) for (const g of gpus) warming.delete(g);
    }
    for (const [id, s] of poolStates) {
      const stuck = s.pool!.gpus.filter((g) => g.warming && g.warmReadyAt !== null && Date.parse(g.warmReadyAt) + STUCK_WARMING_MS < SIM_END_MS);
      if (stuck.length > 0) gpuProblems.push(`${id}: at the end, ${stuck.length} GPUs still loading ${stuck[0]!.model}, due ready @ ${stuck[0]!.warmReadyAt}`);
    }
    expect.soft(busyGpus).toBe(onGpus.reduce((n, w) => n + w.request.gpuCount, 0));
    expect.soft(gpuProblems, 'GPUs leaked').toEqual([]);

    // 4. every read model equals a clean rebuild from the first event
    const rebuildDb = await open(schemas.rebuild);
    await migrateProjections(rebuildDb, PROJECTIONS);
    const runner = createProjectionRunner({ db: rebuildDb, store, projections: PROJECTIONS, feed: createChangeFeed(), logger: createLogger('warn') });
    await runner.drain();
    await runner.stop();
    const tables = [...PROJECTIONS.flatMap((p) => p.tables), 'hcp_checkpoints'];
    const readModelProblems: string[] = [];
    let rowsCompared = 0;
    for (const table of tables) {
      const columns = async (schema: string) =>
        (await admin.query(`SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY column_name`, [schema, table])).rows.map((r) => r.column_name as string);
      const [liveColumns, rebuilt] = [await columns(schemas.crash), await columns(schemas.rebuild)];
      expect.soft(liveColumns, `${table}: columns`).toEqual(rebuilt);
      const key = (
        await admin.query(
          `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
            WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
          [`${schemas.rebuild}.${table}`],
        )
      ).rows.map((r) => r.attname as string);
      const order = (key.length > 0 ? key : rebuilt).map((c) => `"${c}"`).join(', ');
      const rows = async (schema: string) => (await admin.query(`SELECT to_jsonb(t) AS r FROM ${schema}.${table} t ORDER BY ${order}`)).rows.map((r) => JSON.stringify(r.r));
      const [a, b] = [await rows(schemas.crash), await rows(schemas.rebuild)];
      rowsCompared += b.length;
      if (a.length !== b.length) readModelProblems.push(`${table}: ${a.length} rows live, ${b.length} rebuilt`);
      const [inLive, inRebuilt] = [new Set(a), new Set(b)];
      const [onlyLive, onlyRebuilt] = [a.filter((r) => !inRebuilt.has(r)), b.filter((r) => !inLive.has(r))];
      for (const r of onlyLive.slice(0, 3)) readModelProblems.push(`${table}: live only ${r}`);
      for (const r of onlyRebuilt.slice(0, 3)) readModelProblems.push(`${table}: rebuilt only ${r}`);
      if (onlyLive.length === 0 && onlyRebuilt.length === 0 && a.join('\n') !== b.join('\n')) readModelProblems.push(`${table}: same rows in another order`);
    }
    expect.soft(readModelProblems, 'read models differ from a clean rebuild').toEqual([]);

    // 5. the essential outcomes of an unbroken run
    const referenceEvents = await eventsOf(schemas.reference);
    const referenceWorkloads = new Set(referenceEvents.filter((e) => e.type === 'WorkloadSubmitted').map((e) => e.data.workloadId as string));
    const referenceLines = new Set(referenceEvents.filter((e) => e.type === 'BillingLineRecorded').map((e) => e.data.lineId as string));
    const others = (['workloads', 'runs', 'billing'] as const).filter((k) => JSON.stringify(final.summary[k]) !== JSON.stringify(reference.summary[k]));
    const typesDiffering = [...new Set([...events, ...referenceEvents].map((e) => e.type))]
      .map((t) => [t, events.filter((e) => e.type === t).length, referenceEvents.filter((e) => e.type === t).length] as const)
      .filter(([, a, b]) => a !== b)
      .map(([t, a, b]) => `${t} ${a} vs ${b}`);
    console.log(
      [
        `checked: ${lines.length} lines, ${customerIds.length} customers (${activeReservations} live reservations), ${pools.length} pools (${busyGpus} busy GPUs, ${onGpus.length} workloads on them), ${tables.length} read-model tables (${rowsCompared} rows) against a rebuild`,
        `against the unbroken run: ${workloadIds.length} vs ${referenceWorkloads.size} workloads submitted, ${lineIds.length} vs ${referenceLines.size} lines billed; ${final.summary.events} vs ${totalEvents} events`,
        others.length === 0 ? '  workloads, runs and billing summaries identical' : `  summaries differ: ${others.map((k) => `${k} ${JSON.stringify(final.summary[k])} vs ${JSON.stringify(reference.summary[k])}`).join('; ')}`,
        typesDiffering.length === 0 ? '  the same number of events of every type' : `  events by type (crashed vs unbroken): ${typesDiffering.join(', ')}`,
        `total ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      ].join('\n'),
    );
    expect.soft(final.summary.workloads.submitted, 'workloads submitted').toBe(reference.summary.workloads.submitted);
    expect.soft(workloadIds.filter((id) => !referenceWorkloads.has(id)), 'workloads submitted only after the crashes').toEqual([]);
    expect.soft([...referenceWorkloads].filter((id) => !workloads.has(id)), 'workloads submitted only in the unbroken run').toEqual([]);
  });
});

describe.skipIf(TEST_DATABASE_URL)('crash test (set TEST_DATABASE_URL to a PostgreSQL server to run it)', () => {
  it.skip('kills `hcp simulate` with SIGKILL at random points and checks billing, quota, GPUs and read models after the restarts', () => {});
});
