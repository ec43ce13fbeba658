/**
 * Checks of what HCP derived, recomputed from the events alone with the domain code: each check
 * sees every event in store order and names each difference by stream and revision.
 *
 * - recommendations: every `RecommendationIssued` is derived again from its recorded inputs, and
 *   so is the controller state it went on from (its policy record, scored on prices that settled
 *   later, is not: the next decision's inputs carry the scores it used).
 * - quota: every customer's balance, folded event by event, never goes below zero nor beyond
 *   its grant (invariant 1).
 * - billing: every line is its usage at its rate, every credit its share of what is left of its
 *   line, every invoice the sum of its month, and nothing follows an invoice; each run's quota
 *   consumption is what its line billed.
 * - phases: every switch and handover completes its phases in the order it announced, and ends once.
 */
import { lineIdOf, type BillingEvent } from '../domain/billing/billing.ts';
import { lineAmount } from '../domain/billing/metering.ts';
import { creditsFor } from '../domain/billing/sla.ts';
import { available, customerDecider, type CustomerEvent, type CustomerState } from '../domain/customer/customer.ts';
import { canonicalJson } from '../domain/canonical-json.ts';
import { decide, recompute } from '../domain/economics/controller.ts';
import { recommendationOf, type RecommendationIssued } from '../commands/process-managers/economic-controller.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';
import { categoryOf } from './replay.ts';

export type DerivedDifference = { check: string; stream: string; revision: string; message: string };

export type DerivedCheck = {
  readonly name: string;
  see(e: RecordedEvent): DerivedDifference[];
  /** What only the whole log shows (called once, after the last event). */
  finish(): DerivedDifference[];
  /** How many facts it checked. */
  checked(): number;
};

const differenceAt = (check: string, e: RecordedEvent, message: string): DerivedDifference => ({
  check,
  stream: e.streamName,
  revision: e.revision.toString(),
  message,
});

const recommendationsCheck = (): DerivedCheck => {
  let checked = 0;
  return {
    name: 'recommendations',
    see(e) {
      if (e.type !== 'RecommendationIssued') return [];
      checked++;
      const issued = e.data as unknown as RecommendationIssued['data'];
      const differences: string[] = [];
      try {
        const recommendation = recommendationOf(issued);
        differences.push(...recompute(recommendation).differences);
        // the state it went on from is derived too: the next decision starts from it
        const stateAgain = decide({ ...recommendation.inputs }).state;
        if (canonicalJson(JSON.parse(JSON.stringify(stateAgain))) !== canonicalJson(issued.stateAfter)) differences.push('stateAfter');
      } catch (error) {
        return [differenceAt('recommendations', e, `cannot be derived again from its inputs: ${(error as Error).message}`)];
      }
      return differences.length === 0 ? [] : [differenceAt('recommendations', e, `derived again from its inputs, it differs in ${differences.join(', ')}`)];
    },
    finish: () => [],
    checked: () => checked,
  };
};

const QUOTA_EVENTS = new Set(['QuotaGranted', 'QuotaReserved', 'QuotaReleased', 'QuotaConsumed', 'QuotaReservationExtended']);

const quotaCheck = (consumed: Map<string, { gpuSeconds: number; budgetMicroUsd: number; at: RecordedEvent }>): DerivedCheck => {
  const customers = new Map<string, CustomerState>();
  let checked = 0;
  return {
    name: 'quota',
    see(e) {
      if (categoryOf(e.streamName) !== 'customer') return [];
      const state = customerDecider.evolve(customers.get(e.streamName) ?? customerDecider.initialState(), e as unknown as CustomerEvent);
      customers.set(e.streamName, state);
      if (!QUOTA_EVENTS.has(e.type) || state.status !== 'registered') return [];
      checked++;
      if (e.type === 'QuotaConsumed') {
        const d = e.data as { workloadId: string; run?: number; gpuSeconds: number; budgetMicroUsd: number };
        if (d.run !== undefined) consumed.set(lineIdOf(d.workloadId, d.run), { gpuSeconds: d.gpuSeconds, budgetMicroUsd: d.budgetMicroUsd, at: e });
      }
      const b = state.balance;
      const free = available(b);
      const broken = (['gpuSeconds', 'budgetMicroUsd'] as const).flatMap((field) =>
        [
          b.reserved[field] < 0 ? `reserved ${field} ${b.reserved[field]} < 0` : '',
          b.consumed[field] < 0 ? `consumed ${field} ${b.consumed[field]} < 0` : '',
          free[field] < 0 ? `reserved + consumed ${field} exceed the grant by ${-free[field]}` : '',
        ].filter(Boolean),
      );
      return broken.length ? [differenceAt('quota', e, `after ${e.type}: ${broken.join('; ')}`)] : [];
    },
    finish: () => [],
    checked: () => checked,
  };
};

type Line = { amountMicroUsd: number; gpuSeconds: number; creditPercents: number[]; credited: number };

const billingCheck = (consumed: ReadonlyMap<string, { gpuSeconds: number; budgetMicroUsd: number; at: RecordedEvent }>): DerivedCheck => {
  // each month's sums, kept here rather than by the billing decider's evolve, which copies the
  // month's lines on every event (fine for one append, quadratic over a month of the whole log)
  const months = new Map<string, { invoiced: boolean; lineIds: Set<string>; subtotal: number; credits: number }>();
  const lines = new Map<string, Line>();
  let checked = 0;
  const check = 'billing';
  return {
    name: check,
    see(e) {
      if (categoryOf(e.streamName) !== 'billing') return [];
      checked++;
      let before = months.get(e.streamName);
      if (!before) months.set(e.streamName, (before = { invoiced: false, lineIds: new Set(), subtotal: 0, credits: 0 }));
      const out: DerivedDifference[] = [];
      if (before.invoiced) out.push(differenceAt(check, e, `${e.type} after the month's invoice`));
      const event = e as unknown as BillingEvent;
      if (event.type === 'BillingLineRecorded') {
        const l = event.data;
        if (l.gpuSeconds !== l.billedSeconds * l.gpuCount) out.push(differenceAt(check, e, `line ${l.lineId}: ${l.gpuSeconds} GPU-seconds, not billed seconds × GPUs = ${l.billedSeconds * l.gpuCount}`));
        const amount = lineAmount(l.rateMicroUsdPerGpuHour, l.gpuSecondsBefore, l.gpuSeconds);
        if (l.amountMicroUsd !== amount) out.push(differenceAt(check, e, `line ${l.lineId}: amount ${l.amountMicroUsd}, its usage at its rate is ${amount}`));
        if (lines.has(l.lineId)) out.push(differenceAt(check, e, `line ${l.lineId} billed a second time`));
        lines.set(l.lineId, { amountMicroUsd: l.amountMicroUsd, gpuSeconds: l.gpuSeconds, creditPercents: [], credited: 0 });
        before.lineIds.add(l.lineId);
        before.subtotal += l.amountMicroUsd;
      } else if (event.type === 'SlaCreditIssued') {
        const c = event.data;
        const line = lines.get(c.lineId);
        if (!line) out.push(differenceAt(check, e, `credit ${c.creditId} on a line never billed (${c.lineId})`));
        else {
          line.creditPercents.push(c.creditPercent);
          const expected = creditsFor(line.amountMicroUsd, line.creditPercents.map((creditPercent) => ({ creditPercent }) as Parameters<typeof creditsFor>[1][number])).at(-1)!;
          if (c.amountMicroUsd !== expected) out.push(differenceAt(check, e, `credit ${c.creditId}: ${c.amountMicroUsd}, its ${c.creditPercent} % of what is left of its line is ${expected}`));
          line.credited += c.amountMicroUsd;
        }
        before.credits += c.amountMicroUsd;
      } else if (event.type === 'InvoiceIssued') {
        const i = event.data;
        const lineCount = before.lineIds.size;
        const expected = { lines: lineCount, subtotalMicroUsd: before.subtotal, creditsMicroUsd: before.credits, totalMicroUsd: before.subtotal - before.credits };
        for (const [field, value] of Object.entries(expected)) {
          const stated = i[field as keyof typeof expected];
          if (stated !== value) out.push(differenceAt(check, e, `invoice ${i.invoiceId}: ${field} ${stated}, its month's events sum to ${value}`));
        }
      }
      if (event.type === 'InvoiceIssued') before.invoiced = true;
      return out;
    },
    finish() {
      const out: DerivedDifference[] = [];
      for (const [lineId, use] of consumed) {
        const line = lines.get(lineId);
        if (!line) out.push(differenceAt(check, use.at, `quota consumed for ${lineId}, which no billing line bills`));
        else if (line.amountMicroUsd !== use.budgetMicroUsd || line.gpuSeconds !== use.gpuSeconds)
          out.push(differenceAt(check, use.at, `quota consumed for ${lineId} (${use.gpuSeconds} GPU-s, ${use.budgetMicroUsd} µUSD) is not what its line billed (${line.gpuSeconds} GPU-s, ${line.amountMicroUsd} µUSD)`));
      }
      return out;
    },
    checked: () => checked,
  };
};

type Phased = { phases: string[]; done: number; ended: boolean };

/** Switches (on resource streams) and handovers: phases in their announced order, then one end. */
const phasesCheck = (): DerivedCheck => {
  const open = new Map<string, Phased>();
  let checked = 0;
  const check = 'phases';
  const step = (e: RecordedEvent, key: string, what: string, phase?: { name: string; index: number }, end?: 'ok' | 'failed'): DerivedDifference[] => {
    checked++;
    const p = open.get(key);
    if (!p) return [differenceAt(check, e, `${what}: ${e.type} for a switch never requested`)];
    if (p.ended) return [differenceAt(check, e, `${what}: ${e.type} after it ended`)];
    const out: DerivedDifference[] = [];
    if (phase) {
      if (phase.index !== p.done || phase.name !== p.phases[p.done]) out.push(differenceAt(check, e, `${what}: phase ${phase.name} (#${phase.index}) completed where ${p.phases[p.done] ?? 'no phase'} (#${p.done}) was next`));
      p.done = Math.max(p.done, phase.index + 1);
    }
    if (end === 'ok') {
      if (p.done !== p.phases.length) out.push(differenceAt(check, e, `${what}: completed after ${p.done} of its ${p.phases.length} phases`));
      p.ended = true;
    } else if (end === 'failed') p.ended = true;
    return out;
  };
  return {
    name: check,
    see(e) {
      const d = e.data as { switchId?: string; handoverId?: string; phases?: string[]; phase?: string; index?: number };
      switch (e.type) {
        case 'ModeSwitchRequested':
        case 'HandoverRequested': {
          const key = `${e.streamName}/${d.switchId ?? d.handoverId}`;
          checked++;
          if (open.has(key)) return [differenceAt(check, e, `${d.switchId ?? d.handoverId} requested a second time`)];
          open.set(key, { phases: d.phases ?? [], done: 0, ended: false });
          return [];
        }
        case 'SwitchPhaseCompleted':
        case 'HandoverPhaseCompleted':
          return step(e, `${e.streamName}/${d.switchId ?? d.handoverId}`, d.switchId ?? d.handoverId ?? '?', { name: d.phase ?? '', index: d.index ?? -1 });
        case 'ModeSwitched':
        case 'HandoverCompleted':
          return step(e, `${e.streamName}/${d.switchId ?? d.handoverId}`, d.switchId ?? d.handoverId ?? '?', undefined, 'ok');
        case 'SwitchFailed':
        case 'HandoverFailed':
          return step(e, `${e.streamName}/${d.switchId ?? d.handoverId}`, d.switchId ?? d.handoverId ?? '?', undefined, 'failed');
        default:
          return [];
      }
    },
    finish: () => [],
    checked: () => checked,
  };
};

/** Every derived-fact check, fresh (they keep state across one walk). */
export const derivedChecks = (): DerivedCheck[] => {
  const consumed = new Map<string, { gpuSeconds: number; budgetMicroUsd: number; at: RecordedEvent }>();
  return [recommendationsCheck(), quotaCheck(consumed), billingCheck(consumed), phasesCheck()];
};
