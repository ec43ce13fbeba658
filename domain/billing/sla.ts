/**
 * Service levels by tier and the credits owed when one is missed.
 *
 * Targets (the seed's): the longest a workload should wait in the queue, per priority — P1
 * 100 ms, P2 5 minutes, P3 30 minutes — and for P1 (real-time inference) its own p99 latency
 * target (the request's maxLatencyMs) and an availability of 99.9 % of its running time.
 *
 * Credits: a share of the affected billing line (the run the breach belongs to), by how far the
 * measure missed, in three steps like AWS's compute SLA (10 % / 30 % / 100 % as availability
 * falls below 99.99 %, 99 %, 95 %). The steps here: availability below 99.9 % → 10 %, below
 * 99 % → 30 %, below 95 % → 100 %; p99 latency up to 1.5× its target → 10 %, up to 3× → 30 %,
 * beyond → 100 %; a queue wait up to 2× its target → 10 %, up to 10× → 30 %, beyond → 100 %.
 * A run's credits together never exceed its line.
 */
import type { Priority } from '../workload/request.ts';

export const QUEUE_WAIT_TARGET_MS: Record<Exclude<Priority, 'P4'>, number> = { P1: 100, P2: 5 * 60_000, P3: 30 * 60_000 };
export const P1_AVAILABILITY_TARGET = 0.999;

export const SLA_KINDS = ['queue_wait', 'latency_p99', 'availability'] as const;
export type SlaKind = (typeof SLA_KINDS)[number];

export type SlaBreach = {
  kind: SlaKind;
  /** The run it belongs to (its billing line takes the credit). */
  run: number;
  measured: number;
  target: number;
  /** ms for waits and latency, a fraction for availability. */
  unit: 'ms' | 'fraction';
  creditPercent: 10 | 30 | 100;
};

const step = (ratio: number, steps: readonly [number, number]): 10 | 30 | 100 => (ratio <= steps[0] ? 10 : ratio <= steps[1] ? 30 : 100);

/** The breach of a queue wait, if it missed its tier's target. */
export const queueWaitBreach = (priority: Priority, run: number, waitedMs: number): SlaBreach | undefined => {
  if (priority === 'P4') return undefined;
  const target = QUEUE_WAIT_TARGET_MS[priority];
  return waitedMs > target ? { kind: 'queue_wait', run, measured: waitedMs, target, unit: 'ms', creditPercent: step(waitedMs / target, [2, 10]) } : undefined;
};

export const latencyBreach = (run: number, p99Ms: number, targetMs: number): SlaBreach | undefined =>
  p99Ms > targetMs ? { kind: 'latency_p99', run, measured: p99Ms, target: targetMs, unit: 'ms', creditPercent: step(p99Ms / targetMs, [1.5, 3]) } : undefined;

export const availabilityBreach = (run: number, availability: number): SlaBreach | undefined => {
  if (availability >= P1_AVAILABILITY_TARGET) return undefined;
  const creditPercent = availability >= 0.99 ? 10 : availability >= 0.95 ? 30 : 100;
  return { kind: 'availability', run, measured: availability, target: P1_AVAILABILITY_TARGET, unit: 'fraction', creditPercent };
};

/** Credits of a run's breaches on its line: each its share, all together capped at the line. */
export const creditsFor = (lineMicroUsd: number, breaches: readonly SlaBreach[]): number[] => {
  let left = lineMicroUsd;
  return breaches.map((b) => {
    // in integers: a line of a few hundred million dollars times 100 is past a double's exact range
    const credit = Math.min(left, Number((BigInt(lineMicroUsd) * BigInt(b.creditPercent)) / 100n));
    left -= credit;
    return credit;
  });
};
