/**
 * Metering GPU time (integer micro-USD, integer GPU-seconds).
 *
 * Per second, with a 60-second minimum per run (the AWS/GCP convention), except that:
 * - a run the platform ended (preempted, interrupted by a GPU fault, paused for demand
 *   response) is billed its exact seconds, no minimum: the customer did not end it;
 * - the minimum never takes a workload past the GPU time it reserved (a short last run of a
 *   resumed workload is billed what is left of its reservation, at least its own seconds).
 * The time a model takes to load (a cold start) is the platform's: a run is billed from its
 * start (WorkloadStarted) to its end.
 *
 * A line's amount is the price of the workload's billed GPU-seconds after the run less the
 * price before it, each rounded up to the micro-USD, at the run's rate: splitting a workload
 * into runs adds no rounding (at one rate, its lines sum to exactly ⌈rate × GPU-seconds / 3600⌉).
 */
import { priceOfGpuSeconds } from '../money.ts';
import type { SlaBreach } from './sla.ts';
import type { GpuType, Priority } from '../workload/request.ts';

export const MINIMUM_BILLED_SECONDS = 60;

export type RunEnd = 'completion' | 'customer' | 'platform';

/** Seconds (per GPU) to bill for a run. */
export const billedSecondsOf = (r: { ranSeconds: number; endedBy: RunEnd; billedBefore: number; reservedSeconds: number }): number => {
  if (r.endedBy === 'platform') return r.ranSeconds;
  const withMinimum = Math.max(MINIMUM_BILLED_SECONDS, r.ranSeconds);
  return Math.max(r.ranSeconds, Math.min(withMinimum, r.reservedSeconds - r.billedBefore));
};

/** The amount of a line: GPU-seconds `before` → `before + gpuSeconds` at a rate per GPU-hour. */
export const lineAmount = (rateMicroUsdPerGpuHour: number, gpuSecondsBefore: number, gpuSeconds: number): number =>
  priceOfGpuSeconds(rateMicroUsdPerGpuHour, gpuSecondsBefore + gpuSeconds) - priceOfGpuSeconds(rateMicroUsdPerGpuHour, gpuSecondsBefore);

/** The most the rest of a workload can cost at a rate: what its reservation must hold from here on. */
export const budgetForRest = (rateMicroUsdPerGpuHour: number, gpuSecondsBefore: number, gpuSecondsLeft: number): number =>
  lineAmount(rateMicroUsdPerGpuHour, gpuSecondsBefore, gpuSecondsLeft);

/** A run's billing, carried by the event that ends it (domain/workload/workload.ts). */
export type RunUsage = {
  run: number;
  gpuType: GpuType;
  gpuCount: number;
  priority: Priority;
  model: string;
  startedAt: string;
  endedAt: string;
  endedBy: RunEnd;
  ranSeconds: number;
  billedSeconds: number;
  gpuSeconds: number;
  gpuSecondsBefore: number;
  rateMicroUsdPerGpuHour: number;
  priceListVersion: number;
  amountMicroUsd: number;
  /** Ends the workload: what is left of its reservation goes back to the customer. */
  final: boolean;
  breaches: SlaBreach[];
};

