/**
 * What the scheduler sees and what it decides (round.ts). The views are plain data the process
 * manager keeps from the events (and the telemetry it hears), so the decision is a pure
 * function of them and of the time.
 */
import type { GpuPoolState } from '../resource/gpu-pool.ts';
import type { GpuType, WorkloadRequest } from '../workload/request.ts';
import type { Tier } from '../billing/price-list.ts';
import type { WaitingQueue } from './queue.ts';

/** A pool as its aggregate holds it (gpu-pool.ts), with what the scheduler hears besides. */
export type PoolView = Pick<GpuPoolState, 'resourceId' | 'gpuType' | 'units' | 'warmStandbyUnits' | 'mode' | 'switchingTo' | 'gpus' | 'warmTargets'> & {
  facilityId: string;
  /** Temperature of each GPU by index, °C (telemetry; missing: unknown). */
  temperatureC: Readonly<Record<number, number>>;
  /** The electricity price at the pool's facility, USD/MWh (cheaper power is more efficient work). */
  powerUsdPerMwh: number | undefined;
  /** A handover or switch changing the pool's power is under way, and which way. */
  powerChange?: 'up' | 'down';
  /** The last time work of its type other than its warm reserve's needed it (power down after a quiet while). */
  lastDemandMs: number;
  /** A change of its power that the scheduler asked for failed: none that way is asked for again before this time (no retry at every round). */
  powerRetryAtMs?: Partial<Record<'up' | 'down', number>>;
};

export type Waiting = {
  workloadId: string;
  customerId: string;
  priority: Tier;
  request: WorkloadRequest;
  /** Its place by age (kept across preemptions). */
  firstQueuedAtMs: number;
  /** Since when it waits now (its wait against the tier's target). */
  queuedAtMs: number;
  nextRun: number;
  remainingSeconds: number;
  /** The rate its reservation was made at (a first run at that rate needs no check of it). */
  reservedRate?: number;
};

export type Running = {
  workloadId: string;
  priority: Tier;
  request: WorkloadRequest;
  run: number;
  poolId: string;
  gpuIndexes: readonly number[];
  /** When the run started (or was allocated, if it has not started yet). */
  sinceMs: number;
  /** When it is expected to end (undefined while its model loads). */
  endsAtMs: number | undefined;
};

/** A pool's runs in the order of `running`, and by expected end (unknown ends last; ties in that order). */
export type PoolRuns = { inOrder: readonly Running[]; byEnd: readonly Running[] };

export type SchedulerView = {
  nowMs: number;
  pools: readonly PoolView[];
  /** What waits: a list in any order, or a queue kept in order (queue.ts), which hands a round only the work of the GPU types it walks. */
  waiting: readonly Waiting[] | WaitingQueue;
  /** The work running, in the order placed (read at most once a round, and only when needed: a scheduler's thousands need not be copied). */
  running: Iterable<Running>;
  /** Demand response: `<facility>:<gpuType>:<tier>` the economic controller has paused. */
  paused: ReadonlySet<string>;
  /** P1 GPUs asked for per pool and model over the recent window (the warm pool's basis). */
  recentP1Gpus: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** `running` per pool, as a scheduler that keeps it hands it over (runs.ts); else grouped and sorted from `running`. */
  runsByPool?: ReadonlyMap<string, PoolRuns>;
};

/**
 * What waits of one GPU type, in short: how many gangs of each size wait, per tier. A
 * round passes over a type none of whose waiting work can fit anywhere (round.ts) without
 * walking it, and the scheduler tells a moot arrival from the sizes alone.
 */
export type WaitingOfType = { sizes: Record<Tier, ReadonlyMap<number, number>> };

export type Placement = {
  type: 'place';
  workloadId: string;
  run: number;
  poolId: string;
  facilityId: string;
  gpuIndexes: number[];
  gpuIds: string[];
  warm: boolean;
  startupMs: number;
  mode: 'serving' | 'training';
  model: string;
  score: number;
  reason: string;
};

export type Decision =
  | Placement
  | { type: 'preempt'; workloadId: string; run: number; poolId: string; cause: 'p1' | 'demand_response'; reason: string }
  | { type: 'warm'; poolId: string; gpuIds: string[]; model: string; loadMs: number; reason: string }
  | { type: 'cool'; poolId: string; gpuIds: string[]; reason: string }
  | { type: 'size-warm'; poolId: string; targets: Record<string, number>; reason: string; basis: Record<string, unknown> }
  | { type: 'power'; poolId: string; facilityId: string; direction: 'up' | 'down'; reason: string }
  | { type: 'fail'; workloadId: string; reason: string };

export const pausedKey = (facilityId: string, gpuType: GpuType, tier: Tier) => `${facilityId}:${gpuType}:${tier}`;
