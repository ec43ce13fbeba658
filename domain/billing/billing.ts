/**
 * A customer's billing period, one month (`billing-<customer>-<yyyymm>`): a line per run of a
 * workload, the SLA credits on those lines, and the invoice when the month closes. Exact
 * (invariant 5): a line's amount is its usage at its rate (metering.ts), checked here; a run is
 * billed once (its line id is the workload and run); a credit never exceeds what is left of its
 * line; the invoice's total is its lines less its credits. After the invoice nothing is added:
 * a line that comes late goes to the next open month, saying so.
 */
import { accept, reject, type Decider, type DomainEvent } from '../decider.ts';
import { lineAmount, type RunUsage } from './metering.ts';
import { creditsFor, type SlaBreach } from './sla.ts';
import { emptyMap, getIn, setIn, type PersistentMap } from '../persistent-map.ts';

export const billingStream = (customerId: string, month: string) => `billing-${customerId}-${month}`;
export const lineIdOf = (workloadId: string, run: number) => `${workloadId}:run-${run}`;

/** A run's usage (metering.ts), billed on a customer's month. */
export type BillingLine = Omit<RunUsage, 'breaches' | 'final'> & {
  lineId: string;
  customerId: string;
  month: string;
  workloadId: string;
  /** Set when the run ended in a month already invoiced. */
  lateFrom?: string;
};

export type SlaCredit = {
  creditId: string;
  lineId: string;
  customerId: string;
  month: string;
  workloadId: string;
  run: number;
  kind: SlaBreach['kind'];
  creditPercent: number;
  measured: number;
  target: number;
  unit: SlaBreach['unit'];
  amountMicroUsd: number;
};

export type Invoice = {
  invoiceId: string;
  customerId: string;
  month: string;
  lines: number;
  subtotalMicroUsd: number;
  creditsMicroUsd: number;
  totalMicroUsd: number;
  issuedAt: string;
};

export type BillingEvent =
  | DomainEvent<'BillingLineRecorded', BillingLine>
  | DomainEvent<'SlaCreditIssued', SlaCredit>
  | DomainEvent<'InvoiceIssued', Invoice>;

export type BillingCommand =
  | { type: 'RecordLine'; line: BillingLine; breaches: readonly SlaBreach[] }
  | { type: 'CloseMonth'; customerId: string; month: string; at: string };

export type BillingState = {
  status: 'none' | 'open' | 'invoiced';
  /** Line id → amount, and line id → credited (persistent: a customer's month holds thousands of lines, and each adds one). */
  lines: PersistentMap<number>;
  credited: PersistentMap<number>;
  subtotal: number;
  credits: number;
};

export const invoiceIdOf = (customerId: string, month: string) => `inv-${customerId}-${month}`;

const evolve = (state: BillingState, event: BillingEvent): BillingState => {
  switch (event.type) {
    case 'BillingLineRecorded':
      return { ...state, status: 'open', lines: setIn(state.lines, event.data.lineId, event.data.amountMicroUsd), subtotal: state.subtotal + event.data.amountMicroUsd };
    case 'SlaCreditIssued':
      return {
        ...state,
        credited: setIn(state.credited, event.data.lineId, (getIn(state.credited, event.data.lineId) ?? 0) + event.data.amountMicroUsd),
        credits: state.credits + event.data.amountMicroUsd,
      };
    case 'InvoiceIssued':
      return { ...state, status: 'invoiced' };
  }
};

const decide = (command: BillingCommand, state: BillingState) => {
  switch (command.type) {
    case 'RecordLine': {
      const l = command.line;
      if (getIn(state.lines, l.lineId) !== undefined) return accept<BillingEvent>(); // billed already: once per run
      if (state.status === 'invoiced') return reject<BillingEvent>('invalid_state', `${l.month} is invoiced: the line goes to the next month`, 'month');
      const ints = [l.run, l.gpuCount, l.ranSeconds, l.billedSeconds, l.gpuSeconds, l.gpuSecondsBefore, l.rateMicroUsdPerGpuHour, l.amountMicroUsd];
      if (!ints.every((x) => Number.isSafeInteger(x) && x >= 0)) return reject<BillingEvent>('invalid_input', 'amounts are whole non-negative numbers', 'line');
      if (l.gpuSeconds !== l.billedSeconds * l.gpuCount) return reject<BillingEvent>('invalid_input', 'GPU-seconds must be billed seconds × GPUs', 'line.gpuSeconds');
      if (l.amountMicroUsd !== lineAmount(l.rateMicroUsdPerGpuHour, l.gpuSecondsBefore, l.gpuSeconds))
        return reject<BillingEvent>('invalid_input', 'the amount must be the usage at the rate', 'line.amountMicroUsd');
      const credits = creditsFor(l.amountMicroUsd, command.breaches);
      return accept<BillingEvent>(
        { type: 'BillingLineRecorded', data: l },
        ...command.breaches.flatMap((b, i): BillingEvent[] =>
          credits[i]! > 0
            ? [
                {
                  type: 'SlaCreditIssued',
                  data: {
                    creditId: `${l.lineId}:${b.kind}`,
                    lineId: l.lineId,
                    customerId: l.customerId,
                    month: l.month,
                    workloadId: l.workloadId,
                    run: l.run,
                    kind: b.kind,
                    creditPercent: b.creditPercent,
                    measured: b.measured,
                    target: b.target,
                    unit: b.unit,
                    amountMicroUsd: credits[i]!,
                  },
                },
              ]
            : [],
        ),
      );
    }
    case 'CloseMonth':
      if (state.status === 'invoiced') return accept<BillingEvent>();
      return accept<BillingEvent>({
        type: 'InvoiceIssued',
        data: {
          invoiceId: invoiceIdOf(command.customerId, command.month),
          customerId: command.customerId,
          month: command.month,
          lines: state.lines.size,
          subtotalMicroUsd: state.subtotal,
          creditsMicroUsd: state.credits,
          totalMicroUsd: state.subtotal - state.credits,
          issuedAt: command.at,
        },
      });
  }
};

export const billingDecider: Decider<BillingCommand, BillingEvent, BillingState> = {
  initialState: () => ({ status: 'none', lines: emptyMap(), credited: emptyMap(), subtotal: 0, credits: 0 }),
  evolve,
  decide,
};
