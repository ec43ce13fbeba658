/**
 * Metering and billing, a process manager: each run that ends is billed once, on its customer's
 * period (`billing-<customer>-<yyyymm>`, the month the run ended; an invoiced month sends a late
 * line to the next one), with the credits of its SLA breaches; its billed use turns into
 * consumed quota, and when the workload ends what is left of its reservation is released, in
 * that order (invariant 1 at every event). A month is invoiced once the platform's time is an
 * hour past its end. Ids derive from the workload and run, and from the customer and month.
 */
import type { Logger } from 'pino';
import { billingDecider, billingStream, lineIdOf, type BillingLine } from '../../domain/billing/billing.ts';
import { customerDecider, customerStream } from '../../domain/customer/customer.ts';
import { HOUR_MS, iso, monthEndMs, monthOf, nextMonth, type Month } from '../../domain/time.ts';
import { workloadDecider, workloadStream, type RunUsage, type WorkloadEvent } from '../../domain/workload/workload.ts';
import type { RecordedEvent } from '../../infra/event-store/types.ts';
import type { CommandContext } from '../handle.ts';
import { handleCommand, handleTogether, loadState } from '../handle.ts';
import type { CommandDeps } from '../context.ts';
import { releaseQuota } from '../quota.ts';
import type { GlobalPosition } from '../../infra/event-store/position.ts';
import type { ProcessManager } from '../process-managers/runner.ts';
import { getIn } from '../../domain/persistent-map.ts';

/** A month is invoiced this long after it ends (runs ending at its close are billed first). */
export const INVOICE_GRACE_MS = HOUR_MS;

const RUN_ENDS: ReadonlySet<string> = new Set(['WorkloadCompleted', 'WorkloadPreempted', 'WorkloadInterrupted', 'WorkloadFailed', 'WorkloadCancelled']);
const WORKLOAD_ENDS: ReadonlySet<string> = new Set(['WorkloadCompleted', 'WorkloadFailed', 'WorkloadCancelled']);

const context = (commandId: string, atMs: number, correlationId = commandId): CommandContext => ({
  commandId,
  correlationId,
  actor: 'process-manager:metering',
  now: () => new Date(atMs),
});

/** Where a run's bill goes and under which ids: its line on the customer's period `month`, its use on the account. */
export const billTargets = (customerId: string, workloadId: string, run: number, endedMs: number, month: Month, correlationId?: string) => ({
  line: { decider: billingDecider, streamName: billingStream(customerId, month), context: context(`bill:${lineIdOf(workloadId, run)}:${month}`, endedMs, correlationId) },
  use: { decider: customerDecider, streamName: customerStream(customerId), context: context(`consume:${workloadId}:${run}`, endedMs, correlationId) },
});

/**
 * A run's bill as commands: its line (and credits) on the customer's period `month`, and its use
 * out of the workload's reservation; ids from the workload and run, so a repeat appends nothing.
 */
export const runBill = (customerId: string, workloadId: string, usage: RunUsage, month: Month, correlationId?: string) => {
  const endedMs = Date.parse(usage.endedAt);
  const { breaches, final: _final, ...rest } = usage;
  const { line, use } = billTargets(customerId, workloadId, usage.run, endedMs, month, correlationId);
  return {
    recordLine: {
      ...line,
      command: { type: 'RecordLine' as const, line: { ...rest, lineId: lineIdOf(workloadId, usage.run), customerId, month, workloadId, ...(month !== monthOf(endedMs) ? { lateFrom: monthOf(endedMs) } : {}) } satisfies BillingLine, breaches },
    },
    consume: { ...use, command: { type: 'ConsumeQuota' as const, workloadId, run: usage.run, gpuSeconds: usage.gpuSeconds, budgetMicroUsd: usage.amountMicroUsd } },
  };
};

/**
 * Bills a run: its line (and credits), then its use out of the reservation. Returns the month it
 * was billed in, and whether any of the workload's reservation is left (known only when the use
 * was recorded just now; undefined when it was a repeat).
 */
export const billRun = async (
  deps: CommandDeps,
  customerId: string,
  workloadId: string,
  usage: RunUsage,
  correlationId?: string,
): Promise<{ month: Month; position: GlobalPosition | undefined; reservationLeft: boolean | undefined }> => {
  const lineId = lineIdOf(workloadId, usage.run);
  let month = monthOf(Date.parse(usage.endedAt));
  const recordLine = (inMonth: Month) => runBill(customerId, workloadId, usage, inMonth, correlationId).recordLine;
  const { consume } = runBill(customerId, workloadId, usage, month, correlationId);
  /** What is left of the workload's reservation, from this process's copy of the account (as of an append it just made). */
  const reservationLeftNow = async () => {
    const account = await loadState(deps.store, customerDecider, customerStream(customerId), { cached: true });
    return account.status !== 'registered' || getIn(account.reservations, workloadId) !== undefined;
  };
  // the usual case, in one round trip: the line and the use recorded together
  const together = await handleTogether(deps.store, [recordLine(month), consume]);
  if (together) return { month, position: together[1]!.position, reservationLeft: await reservationLeftNow() };
  for (let hops = 0; ; hops++) {
    const { decider, streamName, command, context: recordedAs } = recordLine(month);
    const recorded = await handleCommand(deps.store, decider, streamName, command, recordedAs);
    if (recorded.type === 'accepted') break;
    // the month is invoiced: the line goes to the next one, saying so
    if (recorded.rejection.field !== 'month' || hops > 24) throw new Error(`billing ${lineId}: ${recorded.rejection.message}`);
    month = nextMonth(month);
  }
  const consumed = await handleCommand(deps.store, consume.decider, consume.streamName, consume.command, consume.context);
  if (consumed.type === 'rejected') throw new Error(`quota of ${lineId}: ${consumed.rejection.message}`);
  // appended just now (not a repeat): this process's copy of the account is as of that append
  return { month, position: consumed.position, reservationLeft: consumed.duplicate ? undefined : await reservationLeftNow() };
};

/**
 * What a run's end (or the workload's) owes: its line and use, then, if the workload ended, the
 * release of the rest. Returns the customer, the month billed (if a run was) and the position of
 * the last event appended.
 */
export const settleRunEnd = async (
  deps: CommandDeps,
  event: { type: string; data: Record<string, unknown> },
  correlationId: string,
): Promise<{ customerId: string; month: Month | undefined; position: GlobalPosition | undefined } | undefined> => {
  if (!RUN_ENDS.has(event.type)) return undefined;
  const e = event as Extract<WorkloadEvent, { type: 'WorkloadCompleted' | 'WorkloadPreempted' | 'WorkloadInterrupted' | 'WorkloadFailed' | 'WorkloadCancelled' }>;
  const workloadId = e.data.workloadId;
  // only the workload's customer is needed, which never changes once it exists: the cache will do
  const cached = await loadState(deps.store, workloadDecider, workloadStream(workloadId), { cached: true });
  const state = cached.status === 'none' ? await loadState(deps.store, workloadDecider, workloadStream(workloadId)) : cached;
  if (state.status === 'none') return undefined;
  const usage = e.data.usage ?? null;
  // billed with its end, in the same append (the scheduler's completion: commands/scheduling/
  // execute.ts), what was left of the reservation released with it: nothing is owed
  if (e.type === 'WorkloadCompleted' && e.data.billed && usage) return { customerId: state.customerId, month: monthOf(Date.parse(usage.endedAt)), position: undefined };
  const billed = usage ? await billRun(deps, state.customerId, workloadId, usage, correlationId) : undefined;
  let position = billed?.position;
  // the release of what is left, unless the run's use just took all of it (a release would find
  // nothing to do, and a no-op costs two reads to tell it from a repeat)
  if (WORKLOAD_ENDS.has(e.type) && billed?.reservationLeft !== false) {
    const released = await releaseQuota(
      deps,
      { commandId: `settle:${workloadId}`, correlationId, actor: 'process-manager:metering' },
      { customerId: state.customerId, workloadId, reason: e.type.replace('Workload', '').toLowerCase() },
      `settle:${workloadId}`,
    );
    if (released.type === 'accepted') position = released.position ?? position;
  }
  return { customerId: state.customerId, month: billed?.month, position };
};

export type Metering = ProcessManager & {
  /** Invoices every month an hour past its end at `nowMs`. */
  tick(nowMs: number): Promise<void>;
  /** Takes up the months still open, per customer (from the billing read model), before the first event. */
  recover(): Promise<void>;
};

export const createMetering = (deps: CommandDeps, logger: Logger): Metering => {
  const log = logger.child({ processManager: 'metering' });
  const open = new Map<Month, Set<string>>();
  let now = 0;
  const remember = (customerId: string, month: Month) => {
    const customers = open.get(month) ?? new Set<string>();
    customers.add(customerId);
    open.set(month, customers);
  };
  const closeDue = async () => {
    for (const month of [...open.keys()].sort()) {
      if (now < monthEndMs(month) + INVOICE_GRACE_MS) continue;
      for (const customerId of [...open.get(month)!].sort()) {
        const issuedMs = monthEndMs(month) + INVOICE_GRACE_MS;
        const closed = await handleCommand(deps.store, billingDecider, billingStream(customerId, month), { type: 'CloseMonth', customerId, month, at: iso(issuedMs) }, context(`invoice:${customerId}:${month}`, issuedMs));
        if (closed.type === 'rejected') log.error({ customerId, month, reason: closed.rejection.message }, 'month not invoiced');
      }
      open.delete(month);
    }
  };
  return {
    name: 'metering',
    async react(event: RecordedEvent) {
      const at = Date.parse((event.data as { at?: string }).at ?? event.metadata.occurredAt);
      if (Number.isFinite(at) && at > now) now = at;
      if (event.type === 'BillingLineRecorded') remember(event.data.customerId as string, event.data.month as Month);
      const settled = await settleRunEnd(deps, event, event.metadata.correlationId);
      if (settled?.month) remember(settled.customerId, settled.month);
      await closeDue();
    },
    async tick(nowMs) {
      if (nowMs > now) now = nowMs;
      await closeDue();
    },
    async recover() {
      const open = await deps.readModels.query<{ customerId: string; month: Month }>(`SELECT customer_id AS "customerId", month FROM rm_billing_periods WHERE status = 'open'`);
      for (const p of open) remember(p.customerId, p.month);
    },
  };
};
