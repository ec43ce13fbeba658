/**
 * Model-based tests of billing (invariant 5, exact billing): random sequences of runs ending
 * (completed, cancelled by the customer, preempted, interrupted or failed by the platform, with
 * the SLA breaches the workload finds), the same run's end delivered again, price changes
 * between runs, months closing, and run ends delivered after their month closed drive a small
 * world. The system under test is the real code: the workload decider produces each run's
 * usage, a stand-in for the metering process manager turns it into a RecordLine, and the
 * billing decider (its events folded per `billing-<customer>-<yyyymm>` stream) records lines,
 * credits and invoices. A reference model, deliberately plain and separate, says what each run
 * must cost and what each invoice must total; after every step:
 *  - each run is billed once: no line id twice in a stream nor in two streams, and every run
 *    the model billed has its line, in the month the model expects (late ones saying so);
 *  - a line's amount is the model's (usage × rate, telescoped over the workload's runs);
 *  - every credit, and all credits on a line together, ≤ the line; the credits are the model's;
 *  - every amount is a safe integer ≥ 0;
 *  - an invoice is the last event of its month, issued once, and its totals are the model's:
 *    Σ lines − Σ credits, exactly.
 * Each property is also run against the real code with a bug planted, and must catch it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fold, type Decider } from '../decider.ts';
import { HOUR_MS, iso, monthEndMs, monthOf, nextMonth, type Month } from '../time.ts';
import { classify, type Classification } from '../workload/classify.ts';
import type { GpuType, WorkloadRequest } from '../workload/request.ts';
import { workloadDecider, type RunUsage, type WorkloadCommand, type WorkloadEvent, type WorkloadState } from '../workload/workload.ts';
import { billingDecider, billingStream, lineIdOf, type BillingCommand, type BillingEvent, type BillingLine, type BillingState, type Invoice } from './billing.ts';
import { lineAmount } from './metering.ts';
import { INITIAL_RATES, MAX_RATE_MICRO_USD, MIN_RATE_MICRO_USD, priceListDecider, rateAt, type PriceListEvent, type Rates, type Tier } from './price-list.ts';
import type { SlaBreach } from './sla.ts';
import { getIn, removeFrom } from '../persistent-map.ts';

type WorkloadDecider = Decider<WorkloadCommand, WorkloadEvent, WorkloadState>;
type BillingDecider = Decider<BillingCommand, BillingEvent, BillingState>;
/** The code under test: the real deciders, or ones with a bug planted. */
type System = { workload: WorkloadDecider; billing: BillingDecider };

const REAL: System = { workload: workloadDecider, billing: billingDecider };

// ---------------------------------------------------------------------------------------------
// The reference model: plain arithmetic, in bigint, written from the rules (not from the code)
// ---------------------------------------------------------------------------------------------

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

/**
 * Seconds billed (per GPU) for a run: the seconds it ran if the platform ended it; otherwise at
 * least 60 — but the minimum never bills past what is left of the workload's reserved seconds —
 * and never less than it ran.
 */
const modelBilledSeconds = (ran: number, endedByPlatform: boolean, billedBefore: number, reserved: number) =>
  endedByPlatform ? ran : Math.max(ran, Math.min(60, reserved - billedBefore));

/** The workload's price after the run less its price before, each rounded up to the micro-USD. */
const modelAmount = (rate: number, before: number, gpuSeconds: number): bigint =>
  ceilDiv(BigInt(rate) * BigInt(before + gpuSeconds), 3600n) - ceilDiv(BigInt(rate) * BigInt(before), 3600n);

/** Each breach takes its percent of the line (rounded down), all of them together at most the line. */
const modelCredits = (line: bigint, percents: readonly number[]): bigint[] => {
  let left = line;
  return percents.map((p) => {
    const share = (line * BigInt(p)) / 100n;
    const credit = share < left ? share : left;
    left -= credit;
    return credit;
  });
};

type ModelWorkload = { customerId: string; gpuType: GpuType; tier: Tier; gpuCount: number; reserved: number; ran: number; billed: number; gpuSeconds: number; runs: number; ended: boolean };
type ModelRun = { customerId: string; workloadId: string; run: number; endedAtMs: number; ranSeconds: number; billedSeconds: number; gpuSeconds: number; amount: bigint };
type ModelLine = { customerId: string; month: Month; lateFrom: Month | undefined; amount: bigint; gpuSeconds: number; credits: bigint[] };
type ModelInvoice = { lines: number; subtotal: bigint; credits: bigint; total: bigint };

type Model = {
  rates: Map<string, number>;
  workloads: Map<string, ModelWorkload>;
  runs: Map<string, ModelRun>;
  /** Where each run was billed, decided the first time its end was delivered. */
  lines: Map<string, ModelLine>;
  closed: Set<string>;
  invoices: Map<string, ModelInvoice>;
};

const rateKey = (gpuType: GpuType, tier: Tier) => `${gpuType}/${tier}`;

const modelDeliver = (m: Model, lineId: string, breaches: readonly SlaBreach[]) => {
  if (m.lines.has(lineId)) return; // billed already
  const run = m.runs.get(lineId);
  if (!run) return; // not a run the model knows: the check reports its line
  const endedIn = monthOf(run.endedAtMs);
  let month = endedIn;
  while (m.closed.has(billingStream(run.customerId, month))) month = nextMonth(month);
  const credits = modelCredits(
    run.amount,
    breaches.map((b) => b.creditPercent),
  ).filter((c) => c > 0n);
  m.lines.set(lineId, { customerId: run.customerId, month, lateFrom: month === endedIn ? undefined : endedIn, amount: run.amount, gpuSeconds: run.gpuSeconds, credits });
};

const modelClose = (m: Model, customerId: string, month: Month) => {
  const stream = billingStream(customerId, month);
  if (m.closed.has(stream)) return;
  const lines = [...m.lines.values()].filter((l) => l.customerId === customerId && l.month === month);
  const subtotal = lines.reduce((s, l) => s + l.amount, 0n);
  const credits = lines.reduce((s, l) => s + l.credits.reduce((a, c) => a + c, 0n), 0n);
  m.invoices.set(stream, { lines: lines.length, subtotal, credits, total: subtotal - credits });
  m.closed.add(stream);
};

// ---------------------------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------------------------

type SlotSpec = { customer: number; tier: Tier; gpuType: GpuType; gpuCount: number; durationSeconds: number; maxLatencyMs: number };
type Slot = SlotSpec & { customerId: string; request: WorkloadRequest; classification: Classification; workloadId: string | undefined; generation: number };
/** A run's end as the metering process manager receives it. */
type Delivery = { customerId: string; workloadId: string; usage: RunUsage };

type World = {
  now: number;
  system: System;
  slots: Slot[];
  prices: PriceListEvent[];
  workloads: Map<string, WorkloadEvent[]>;
  billing: Map<string, BillingEvent[]>;
  pending: Delivery[];
  delivered: Delivery[];
  /** The next month to close. */
  closing: Month;
  model: Model;
  violations: string[];
};

const CUSTOMERS = ['c1', 'c2'];
const START_MS = Date.parse('2024-01-31T12:00:00Z');
const TIERS_OF = ['P1', 'P2', 'P3'] as const;

const requestOf = (s: SlotSpec): WorkloadRequest =>
  s.tier === 'P1'
    ? { type: 'ai_inference_realtime', model: 'llama-3-8b', gpuType: s.gpuType, gpuCount: s.gpuCount, maxLatencyMs: s.maxLatencyMs, durationSeconds: s.durationSeconds }
    : { type: s.tier === 'P2' ? 'ai_inference_batch' : 'model_training', model: 'llama-3-70b', gpuType: s.gpuType, gpuCount: s.gpuCount, durationSeconds: s.durationSeconds };

const newWorld = (system: System, specs: readonly SlotSpec[]): World => {
  const prices: PriceListEvent[] = [];
  const d = priceListDecider.decide({ type: 'SetPriceList', effectiveFromMs: START_MS - HOUR_MS, rates: INITIAL_RATES, reason: 'list', nowMs: START_MS - HOUR_MS }, fold(priceListDecider, prices));
  if (d.type === 'accepted') prices.push(...d.events);
  const model: Model = { rates: new Map(), workloads: new Map(), runs: new Map(), lines: new Map(), closed: new Set(), invoices: new Map() };
  for (const g of Object.keys(INITIAL_RATES) as GpuType[]) for (const t of TIERS_OF) model.rates.set(rateKey(g, t), INITIAL_RATES[g][t]);
  return {
    now: START_MS,
    system,
    slots: specs.map((s) => {
      const request = requestOf(s);
      // (batch inference > 24 h on ≥ 32 GPUs is classified as training: the tier is the classification's)
      const classification = classify(request, 'standard');
      return { ...s, tier: classification.priority as Tier, customerId: CUSTOMERS[s.customer]!, request, classification, workloadId: undefined, generation: 0 };
    }),
    prices,
    workloads: new Map(),
    billing: new Map(),
    pending: [],
    delivered: [],
    closing: monthOf(START_MS),
    model,
    violations: [],
  };
};

/** A workload command through the workload decider; a refusal is returned, not applied. */
const workloadCommand = (w: World, workloadId: string, command: WorkloadCommand): WorkloadEvent[] | string => {
  const events = w.workloads.get(workloadId) ?? [];
  const d = w.system.workload.decide(command, fold(w.system.workload, events));
  if (d.type === 'rejected') return d.rejection.message;
  w.workloads.set(workloadId, [...events, ...d.events]);
  return d.events;
};

const billingCommand = (w: World, stream: string, command: BillingCommand) => {
  const events = w.billing.get(stream) ?? [];
  const d = w.system.billing.decide(command, fold(w.system.billing, events));
  if (d.type === 'accepted' && d.events.length > 0) w.billing.set(stream, [...events, ...d.events]);
  return d;
};

/**
 * A run's usage as a billing line on a month (as commands/billing/metering.ts billRun builds it,
 * which exports no helper for it): the usage less its breaches and `final`, where it is billed,
 * and the month it ended in when that was an earlier one.
 */
const lineOf = (usage: RunUsage, customerId: string, workloadId: string, month: Month): BillingLine => {
  const { breaches: _b, final: _f, ...rest } = usage;
  const endedIn = monthOf(usage.endedAt);
  return { ...rest, lineId: lineIdOf(workloadId, usage.run), customerId, month, workloadId, ...(month !== endedIn ? { lateFrom: endedIn } : {}) };
};

/** The metering process manager's billing of a run's end (billRun): the month it ended, or the next not invoiced. */
const bill = (w: World, d: Delivery) => {
  let month = monthOf(d.usage.endedAt);
  for (let hops = 0; ; hops++) {
    const decision = billingCommand(w, billingStream(d.customerId, month), { type: 'RecordLine', line: lineOf(d.usage, d.customerId, d.workloadId, month), breaches: d.usage.breaches });
    if (decision.type === 'accepted') break;
    if (decision.rejection.field !== 'month' || hops > 24) {
      w.violations.push(`${lineIdOf(d.workloadId, d.usage.run)} refused on ${month}: ${decision.rejection.message}`);
      break;
    }
    month = nextMonth(month);
  }
  modelDeliver(w.model, lineIdOf(d.workloadId, d.usage.run), d.usage.breaches);
};

const closeMonth = (w: World) => {
  const month = w.closing;
  const at = monthEndMs(month) + HOUR_MS;
  w.now = Math.max(w.now, at);
  for (const customerId of CUSTOMERS) {
    // sent twice: a retried close issues no second invoice
    for (let i = 0; i < 2; i++) {
      const d = billingCommand(w, billingStream(customerId, month), { type: 'CloseMonth', customerId, month, at: iso(at) });
      if (d.type === 'rejected') w.violations.push(`closing ${customerId} ${month} refused: ${d.rejection.message}`);
    }
    modelClose(w.model, customerId, month);
  }
  w.closing = nextMonth(month);
};

type End = 'completion' | 'customer' | 'preempt' | 'interrupt' | 'fail';

type Step =
  | {
      type: 'run';
      slot: number;
      end: End;
      /** Seconds after its start the run is ended (a completion: reported this late after its last second). */
      seconds: number;
      subMs: number;
      /** How long it waited in the queue, in multiples of its tier's target (0: none). */
      wait: 0 | 1.5 | 5 | 20;
      warm: boolean;
      startupMs: number;
      draws: [number, number];
      later: boolean;
      retry: boolean;
    }
  | { type: 'redeliver'; pick: number }
  | { type: 'deliver'; pick: number }
  | { type: 'rate'; gpuType: GpuType; tier: Tier; rate: number }
  | { type: 'wait'; hours: number }
  | { type: 'close' };

const QUEUE_TARGET_MS: Record<Tier, number> = { P1: 100, P2: 5 * 60_000, P3: 30 * 60_000 };

const openWorkload = (w: World, slot: Slot, index: number): string | undefined => {
  const workloadId = `s${index}-g${++slot.generation}`;
  const opened = workloadCommand(w, workloadId, {
    type: 'OpenWorkload',
    workloadId,
    customerId: slot.customerId,
    request: slot.request,
    classification: slot.classification,
    reservedGpuSeconds: slot.gpuCount * slot.durationSeconds,
    reservedBudgetMicroUsd: 0,
    at: w.now,
  });
  if (typeof opened === 'string') {
    w.violations.push(`opening ${workloadId} refused: ${opened}`);
    return undefined;
  }
  slot.workloadId = workloadId;
  w.model.workloads.set(workloadId, {
    customerId: slot.customerId,
    gpuType: slot.gpuType,
    tier: slot.tier,
    gpuCount: slot.gpuCount,
    reserved: slot.durationSeconds,
    ran: 0,
    billed: 0,
    gpuSeconds: 0,
    runs: 0,
    ended: false,
  });
  return workloadId;
};

const usagesOf = (events: readonly WorkloadEvent[]): RunUsage[] =>
  events.flatMap((e) => ('usage' in e.data && e.data.usage ? [e.data.usage] : []));

const runStep = (w: World, s: Extract<Step, { type: 'run' }>) => {
  const index = s.slot % w.slots.length;
  const slot = w.slots[index]!;
  let workloadId = slot.workloadId;
  if (workloadId === undefined || w.model.workloads.get(workloadId)!.ended) workloadId = openWorkload(w, slot, index);
  if (workloadId === undefined) return;
  const m = w.model.workloads.get(workloadId)!;
  const run = m.runs + 1;

  // the system: allocate at the price in force, start, end
  const allocAt = w.now + s.wait * QUEUE_TARGET_MS[slot.tier];
  const rated = rateAt(fold(priceListDecider, w.prices), slot.gpuType, slot.tier, allocAt)!;
  const allocated = workloadCommand(w, workloadId, {
    type: 'AllocateRun',
    run,
    at: allocAt,
    startupMs: s.startupMs,
    facilityId: 'f',
    resourceId: `f-${slot.gpuType}`,
    gpuIds: Array.from({ length: slot.gpuCount }, (_, i) => `g${i}`),
    score: 1,
    reason: 'test',
    warm: s.warm,
    rateMicroUsdPerGpuHour: rated.rate,
    priceListVersion: rated.version,
  });
  if (typeof allocated === 'string') return void w.violations.push(`allocating ${workloadId} run ${run} refused: ${allocated}`);
  const startAt = allocAt + s.startupMs;
  if (!s.warm) {
    const started = workloadCommand(w, workloadId, { type: 'StartRun', run, at: startAt });
    if (typeof started === 'string') return void w.violations.push(`starting ${workloadId} run ${run} refused: ${started}`);
  }
  const remaining = m.reserved - m.ran;
  const end: End = s.end === 'preempt' && slot.tier === 'P1' ? 'interrupt' : s.end; // a P1 is never preempted, only moved by a fault
  const endAt = end === 'completion' ? startAt + remaining * 1000 + s.seconds * 1000 + s.subMs : startAt + s.seconds * 1000 + s.subMs;
  const command: WorkloadCommand =
    end === 'completion'
      ? { type: 'CompleteRun', run, at: endAt, draws: s.draws, degraded: s.draws[0] > 0.8 }
      : end === 'customer'
        ? { type: 'CancelWorkload', customerId: slot.customerId, reason: 'test', at: endAt }
        : end === 'preempt'
          ? { type: 'PreemptRun', run, at: endAt, cause: 'p1', reason: 'test' }
          : end === 'interrupt'
            ? { type: 'InterruptRun', run, at: endAt, cause: 'gpu_failed', reason: 'test' }
            : { type: 'FailWorkload', at: endAt, reason: 'test' };
  const ended = workloadCommand(w, workloadId, command);
  if (typeof ended === 'string') return void w.violations.push(`ending ${workloadId} run ${run} (${end}) refused: ${ended}`);
  const retried = s.retry ? workloadCommand(w, workloadId, command) : [];
  w.now = Math.max(w.now, endAt);

  // the model: what the run must be billed
  const ranSeconds = end === 'completion' ? remaining : Math.min(s.seconds, remaining);
  const byPlatform = end === 'preempt' || end === 'interrupt' || end === 'fail';
  const billedSeconds = modelBilledSeconds(ranSeconds, byPlatform, m.billed, m.reserved);
  const gpuSeconds = billedSeconds * m.gpuCount;
  const lineId = lineIdOf(workloadId, run);
  const rate = w.model.rates.get(rateKey(m.gpuType, m.tier))!;
  w.model.runs.set(lineId, { customerId: m.customerId, workloadId, run, endedAtMs: endAt, ranSeconds, billedSeconds, gpuSeconds, amount: modelAmount(rate, m.gpuSeconds, gpuSeconds) });
  Object.assign(m, { ran: m.ran + ranSeconds, billed: m.billed + billedSeconds, gpuSeconds: m.gpuSeconds + gpuSeconds, runs: run, ended: end === 'completion' || end === 'customer' || end === 'fail' });

  const usages = [...usagesOf(ended), ...(typeof retried === 'string' ? [] : usagesOf(retried))];
  if (!usages.some((u) => u.run === run)) w.violations.push(`${lineId} ended (${end}) without usage`);
  for (const usage of usages) {
    if (usage.run === run && (usage.ranSeconds !== ranSeconds || usage.billedSeconds !== billedSeconds || usage.endedAt !== iso(endAt)))
      w.violations.push(`${lineId} (${end}) usage ran ${usage.ranSeconds} s, billed ${usage.billedSeconds} s, ended ${usage.endedAt}; the model: ${ranSeconds} s, ${billedSeconds} s, ${iso(endAt)}`);
    const d: Delivery = { customerId: slot.customerId, workloadId, usage };
    if (s.later) w.pending.push(d);
    else {
      w.delivered.push(d);
      bill(w, d);
    }
  }
};

const apply = (w: World, s: Step) => {
  switch (s.type) {
    case 'run':
      return runStep(w, s);
    case 'redeliver': {
      const d = w.delivered[s.pick % Math.max(1, w.delivered.length)];
      if (d) bill(w, d);
      return;
    }
    case 'deliver': {
      if (w.pending.length === 0) return;
      const [d] = w.pending.splice(s.pick % w.pending.length, 1);
      w.delivered.push(d!);
      bill(w, d!);
      return;
    }
    case 'rate': {
      const current = fold(priceListDecider, w.prices).versions.at(-1)!.rates;
      const rates: Rates = { ...current, [s.gpuType]: { ...current[s.gpuType], [s.tier]: s.rate } };
      const d = priceListDecider.decide({ type: 'SetPriceList', effectiveFromMs: w.now, rates, reason: 'test', nowMs: w.now }, fold(priceListDecider, w.prices));
      if (d.type === 'rejected') return void w.violations.push(`price change refused: ${d.rejection.message}`);
      w.prices.push(...d.events);
      w.model.rates.set(rateKey(s.gpuType, s.tier), s.rate);
      return;
    }
    case 'wait':
      w.now += s.hours * HOUR_MS;
      return;
    case 'close':
      return closeMonth(w);
  }
};

/** After the steps: every run's end arrives, each is delivered once more, and every month with a line closes. */
const drain = (w: World) => {
  for (const d of w.pending.splice(0)) {
    w.delivered.push(d);
    bill(w, d);
  }
  for (const d of [...w.delivered]) bill(w, d);
  const last = [...w.model.lines.values()].reduce((m, l) => (l.month > m ? l.month : m), monthOf(w.now));
  while (w.closing <= last) closeMonth(w);
};

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

const isAmount = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

const check = (w: World, when: string) => {
  const v: string[] = [];
  const m = w.model;
  const seen = new Map<string, string>(); // line id → its stream
  for (const [stream, events] of w.billing) {
    const lines = new Map<string, number>();
    const credited = new Map<string, bigint[]>();
    const invoices = events.filter((e) => e.type === 'InvoiceIssued');
    if (invoices.length > 1) v.push(`${stream}: ${invoices.length} invoices`);
    const invoiceAt = events.findIndex((e) => e.type === 'InvoiceIssued');
    if (invoiceAt >= 0 && invoiceAt < events.length - 1) v.push(`${stream}: ${events.slice(invoiceAt + 1).map((e) => e.type).join(', ')} after its invoice`);
    for (const e of events) {
      if (e.type === 'BillingLineRecorded') {
        const l = e.data;
        if (lines.has(l.lineId)) v.push(`${stream}: ${l.lineId} recorded twice`);
        else if (seen.has(l.lineId)) v.push(`${l.lineId} billed on ${seen.get(l.lineId)} and ${stream}`);
        seen.set(l.lineId, stream);
        lines.set(l.lineId, l.amountMicroUsd);
        if (!isAmount(l.amountMicroUsd) || !isAmount(l.gpuSeconds)) v.push(`${stream}: ${l.lineId} amount ${l.amountMicroUsd}, ${l.gpuSeconds} GPU-s`);
        const want = m.lines.get(l.lineId);
        if (!want) {
          v.push(`${stream}: ${l.lineId} billed, but the model billed no such run`);
          continue;
        }
        if (billingStream(want.customerId, want.month) !== stream) v.push(`${l.lineId} billed on ${stream}, the model on ${billingStream(want.customerId, want.month)}`);
        if (l.lateFrom !== want.lateFrom) v.push(`${stream}: ${l.lineId} late from ${l.lateFrom}, the model: ${want.lateFrom}`);
        if (BigInt(l.amountMicroUsd) !== want.amount || l.gpuSeconds !== want.gpuSeconds)
          v.push(`${stream}: ${l.lineId} is ${l.amountMicroUsd} µUSD for ${l.gpuSeconds} GPU-s at ${l.rateMicroUsdPerGpuHour}/h after ${l.gpuSecondsBefore}; the model: ${want.amount} for ${want.gpuSeconds}`);
      } else if (e.type === 'SlaCreditIssued') {
        const c = e.data;
        const line = lines.get(c.lineId);
        if (!isAmount(c.amountMicroUsd)) v.push(`${stream}: credit ${c.creditId} of ${c.amountMicroUsd}`);
        if (line === undefined) {
          v.push(`${stream}: credit ${c.creditId} on no line of its month`);
          continue;
        }
        credited.set(c.lineId, [...(credited.get(c.lineId) ?? []), BigInt(c.amountMicroUsd)]);
        if (c.amountMicroUsd > line) v.push(`${stream}: credit ${c.creditId} of ${c.amountMicroUsd} exceeds its line's ${line}`);
      }
    }
    for (const [lineId, credits] of credited) {
      const sum = credits.reduce((a, c) => a + c, 0n);
      if (sum > BigInt(lines.get(lineId)!)) v.push(`${stream}: credits on ${lineId} total ${sum}, its line ${lines.get(lineId)}`);
    }
    for (const lineId of lines.keys()) {
      const want = m.lines.get(lineId)?.credits ?? [];
      const got = credited.get(lineId) ?? [];
      if (got.join() !== want.join()) v.push(`${stream}: credits on ${lineId} [${got}], the model [${want}]`);
    }
    const invoice = invoices[0]?.data as Invoice | undefined;
    const want = m.invoices.get(stream);
    if (invoice && !want) v.push(`${stream}: invoiced, but the model has not closed it`);
    if (want && !invoice) v.push(`${stream}: closed, but no invoice`);
    if (invoice && want) {
      for (const k of ['subtotalMicroUsd', 'creditsMicroUsd', 'totalMicroUsd'] as const) if (!isAmount(invoice[k])) v.push(`${stream}: invoice ${k} ${invoice[k]}`);
      const got = { lines: invoice.lines, subtotal: BigInt(invoice.subtotalMicroUsd), credits: BigInt(invoice.creditsMicroUsd), total: BigInt(invoice.totalMicroUsd) };
      if (got.lines !== want.lines || got.subtotal !== want.subtotal || got.credits !== want.credits || got.total !== want.total)
        v.push(`${stream}: invoice ${JSON.stringify(got, (_k, x) => (typeof x === 'bigint' ? String(x) : x))}, the model ${JSON.stringify(want, (_k, x) => (typeof x === 'bigint' ? String(x) : x))}`);
    }
  }
  for (const stream of m.invoices.keys()) if (!w.billing.has(stream)) v.push(`${stream}: closed, but no invoice`);
  // each run delivered is billed: the model's lines are all there
  for (const lineId of m.lines.keys()) if (!seen.has(lineId)) v.push(`${lineId}: delivered, billed by the model, but no line`);
  if (v.length > 0) w.violations.push(...v.map((x) => `${when}: ${x}`));
};

// ---------------------------------------------------------------------------------------------
// Generators and the property
// ---------------------------------------------------------------------------------------------

const slotSpec: fc.Arbitrary<SlotSpec> = fc.record({
  customer: fc.nat(CUSTOMERS.length - 1),
  tier: fc.constantFrom<Tier>('P1', 'P2', 'P3'),
  gpuType: fc.constantFrom<GpuType>('H100', 'A100', 'L40S'),
  gpuCount: fc.integer({ min: 1, max: 8 }),
  // short ones make the 60-second minimum and the reservation's end meet
  durationSeconds: fc.oneof(fc.integer({ min: 60, max: 150 }), fc.integer({ min: 60, max: 4 * 3600 })),
  // P1's latency targets (≤ 50 ms): tight ones are breached
  maxLatencyMs: fc.integer({ min: 18, max: 50 }),
});

const rate = fc.oneof(fc.integer({ min: MIN_RATE_MICRO_USD, max: 10_000_000 }), fc.integer({ min: MIN_RATE_MICRO_USD, max: MAX_RATE_MICRO_USD }));

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      type: fc.constant('run' as const),
      slot: fc.nat(7),
      end: fc.constantFrom<End>('completion', 'customer', 'preempt', 'preempt', 'interrupt', 'fail'),
      seconds: fc.oneof(fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 4 * 3600 })),
      subMs: fc.integer({ min: 0, max: 999 }),
      wait: fc.constantFrom<0 | 1.5 | 5 | 20>(0, 0, 1.5, 5, 20),
      warm: fc.boolean(),
      startupMs: fc.integer({ min: 0, max: 120_000 }),
      draws: fc.tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 })).map(([a, b]): [number, number] => [a / 100, b / 100]),
      later: fc.boolean(),
      retry: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('redeliver' as const), pick: fc.nat(99) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('deliver' as const), pick: fc.nat(99) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('rate' as const), gpuType: fc.constantFrom<GpuType>('H100', 'A100', 'L40S'), tier: fc.constantFrom<Tier>('P1', 'P2', 'P3'), rate }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('wait' as const), hours: fc.integer({ min: 1, max: 96 }) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('close' as const) }) },
);

const billingProperty = (system: System) =>
  fc.property(fc.array(slotSpec, { minLength: 2, maxLength: 4 }), fc.array(step, { minLength: 1, maxLength: 40, size: 'max' }), (specs, steps) => {
    const w = newWorld(system, specs);
    for (const [i, s] of steps.entries()) {
      apply(w, s);
      check(w, `after step ${i} (${s.type})`);
      if (w.violations.length > 0) break;
    }
    if (w.violations.length === 0) {
      drain(w);
      check(w, 'after every end was delivered (again) and every month closed');
      // all the months together: every run once, less its credits
      const lines = [...w.model.lines.values()];
      const want = lines.reduce((s, l) => s + l.amount - l.credits.reduce((a, c) => a + c, 0n), 0n);
      const invoiced = [...w.billing.values()].flat().reduce((s, e) => s + (e.type === 'InvoiceIssued' ? BigInt(e.data.totalMicroUsd) : 0n), 0n);
      if (invoiced !== want) w.violations.push(`invoices total ${invoiced}, the model ${want}`);
    }
    expect(w.violations).toEqual([]);
  });

// ---------------------------------------------------------------------------------------------
// Planted bugs: wrappers around the real deciders
// ---------------------------------------------------------------------------------------------

/** (a) A repeated RecordLine is accepted again: the decider forgets it billed the line. */
const recordsTwice: BillingDecider = {
  ...billingDecider,
  decide: (command, state) => {
    if (command.type !== 'RecordLine' || getIn(state.lines, command.line.lineId) === undefined) return billingDecider.decide(command, state);
    return billingDecider.decide(command, { ...state, lines: removeFrom(state.lines, command.line.lineId) });
  },
};

/**
 * (b) Metering without the telescoping: each run priced on its own seconds, rounded up (the
 * line says it starts from nothing, so the billing decider's own check of the amount agrees).
 */
const roundsEachRun: WorkloadDecider = {
  ...workloadDecider,
  decide: (command, state) => {
    const d = workloadDecider.decide(command, state);
    if (d.type === 'rejected') return d;
    return {
      ...d,
      events: d.events.map((e): WorkloadEvent => {
        if (!('usage' in e.data) || !e.data.usage) return e;
        const u = e.data.usage;
        return { ...e, data: { ...e.data, usage: { ...u, gpuSecondsBefore: 0, amountMicroUsd: lineAmount(u.rateMicroUsdPerGpuHour, 0, u.gpuSeconds) } } } as WorkloadEvent;
      }),
    };
  },
};

/** (c) The invoice forgets the credits: its total is its lines'. */
const invoiceWithoutCredits: BillingDecider = {
  ...billingDecider,
  decide: (command, state) => {
    const d = billingDecider.decide(command, state);
    if (d.type === 'rejected') return d;
    return { ...d, events: d.events.map((e): BillingEvent => (e.type === 'InvoiceIssued' ? { ...e, data: { ...e.data, totalMicroUsd: e.data.subtotalMicroUsd } } : e)) };
  },
};

const PLANTED: Record<string, System> = {
  'records a redelivered line again': { ...REAL, billing: recordsTwice },
  'prices each run on its own seconds (no telescoping)': { ...REAL, workload: roundsEachRun },
  'issues an invoice that forgets its credits': { ...REAL, billing: invoiceWithoutCredits },
};

describe('billing (invariant 5), model-based', () => {
  it('bills each run once at its usage × rate, credits within their lines, and invoices Σ lines − Σ credits exactly', () => {
    fc.assert(billingProperty(REAL), { numRuns: 300 });
  });

  it.each(Object.keys(PLANTED))('catches a system that %s', (bug) => {
    expect(fc.check(billingProperty(PLANTED[bug]!), { numRuns: 200 }).failed).toBe(true);
  });
});
