/** Read model of billing: the price list's versions, each run's line, the SLA credits, and each customer's months and invoices. */
import type { BillingEvent } from '../domain/billing/billing.ts';
import type { PriceListEvent } from '../domain/billing/price-list.ts';
import type { Change, Projection } from './projection.ts';
import { addInt8, insertRows, loadRows, saveRows, type Int8, type Row, type RowTable } from './rows.ts';

const SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS rm_price_list (
  version        integer PRIMARY KEY,
  effective_from timestamptz NOT NULL,
  rates          jsonb NOT NULL,
  reason         text NOT NULL,
  set_at         timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS rm_billing_lines (
  line_id        text PRIMARY KEY,
  customer_id    text NOT NULL,
  month          text NOT NULL,
  workload_id    text NOT NULL,
  run            integer NOT NULL,
  gpu_type       text NOT NULL,
  priority       text NOT NULL,
  gpu_count      integer NOT NULL,
  model          text NOT NULL,
  started_at     timestamptz NOT NULL,
  ended_at       timestamptz NOT NULL,
  ended_by       text NOT NULL,
  ran_seconds    bigint NOT NULL,
  billed_seconds bigint NOT NULL,
  gpu_seconds    bigint NOT NULL,
  rate_micro_usd_per_gpu_hour bigint NOT NULL,
  price_list_version integer NOT NULL,
  amount_micro_usd bigint NOT NULL,
  late_from      text
);
CREATE INDEX IF NOT EXISTS rm_billing_lines_by_customer ON rm_billing_lines (customer_id, month, ended_at, line_id);
CREATE INDEX IF NOT EXISTS rm_billing_lines_by_workload ON rm_billing_lines (workload_id, run);
CREATE TABLE IF NOT EXISTS rm_sla_credits (
  credit_id      text PRIMARY KEY,
  line_id        text NOT NULL,
  customer_id    text NOT NULL,
  month          text NOT NULL,
  workload_id    text NOT NULL,
  run            integer NOT NULL,
  kind           text NOT NULL,
  credit_percent integer NOT NULL,
  amount_micro_usd bigint NOT NULL,
  issued_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_sla_credits_by_customer ON rm_sla_credits (customer_id, month);
CREATE TABLE IF NOT EXISTS rm_billing_periods (
  customer_id      text NOT NULL,
  month            text NOT NULL,
  status           text NOT NULL,
  lines            integer NOT NULL DEFAULT 0,
  subtotal_micro_usd bigint NOT NULL DEFAULT 0,
  credits_micro_usd  bigint NOT NULL DEFAULT 0,
  invoice_id       text,
  total_micro_usd  bigint,
  issued_at        timestamptz,
  PRIMARY KEY (customer_id, month)
);
CREATE INDEX IF NOT EXISTS rm_billing_periods_open ON rm_billing_periods (month) WHERE status = 'open';
`;

const PERIODS: RowTable = { name: 'rm_billing_periods', key: ['customer_id', 'month'] };

type PeriodRow = {
  customer_id: string;
  month: string;
  status: string;
  lines: number;
  subtotal_micro_usd: Int8;
  credits_micro_usd: Int8;
  invoice_id: string | null;
  total_micro_usd: Int8 | null;
  issued_at: string | Date | null;
};

const openPeriod = (customerId: string, month: string): PeriodRow => ({
  customer_id: customerId, month, status: 'open', lines: 0, subtotal_micro_usd: 0, credits_micro_usd: 0, invoice_id: null, total_micro_usd: null, issued_at: null,
});

export const billingProjection: Projection = {
  name: 'billing',
  eventTypes: new Set(['PriceListSet', 'BillingLineRecorded', 'SlaCreditIssued', 'InvoiceIssued']),
  schema: SCHEMA,
  tables: ['rm_billing_periods', 'rm_sla_credits', 'rm_billing_lines', 'rm_price_list'],
  async apply(tx, recorded): Promise<Change[]> {
    const events = recorded.map((e) => ({ type: e.type, data: e.data, at: e.metadata.occurredAt }) as (BillingEvent | PriceListEvent) & { at: string });
    const periods = await loadRows<PeriodRow>(tx, PERIODS, events.flatMap((e) => ('month' in e.data ? [[e.data.customerId, e.data.month]] : [])));
    const lines: Row[] = [];
    const credits: Row[] = [];
    const changes: Change[] = [];
    for (const event of events) {
      switch (event.type) {
        case 'PriceListSet':
          await tx.query(`INSERT INTO rm_price_list (version, effective_from, rates, reason, set_at) VALUES ($1, $2, $3::jsonb, $4, $5) ON CONFLICT DO NOTHING`, [
            event.data.version,
            event.data.effectiveFrom,
            JSON.stringify(event.data.rates),
            event.data.reason,
            event.at,
          ]);
          changes.push({ topic: 'price-list' });
          continue;
        case 'BillingLineRecorded': {
          const l = event.data;
          lines.push({
            line_id: l.lineId, customer_id: l.customerId, month: l.month, workload_id: l.workloadId, run: l.run, gpu_type: l.gpuType, priority: l.priority, gpu_count: l.gpuCount,
            model: l.model, started_at: l.startedAt, ended_at: l.endedAt, ended_by: l.endedBy, ran_seconds: l.ranSeconds, billed_seconds: l.billedSeconds, gpu_seconds: l.gpuSeconds,
            rate_micro_usd_per_gpu_hour: l.rateMicroUsdPerGpuHour, price_list_version: l.priceListVersion, amount_micro_usd: l.amountMicroUsd, late_from: l.lateFrom ?? null,
          });
          const period = periods.get(l.customerId, l.month) ?? periods.put(openPeriod(l.customerId, l.month));
          period.lines += 1;
          period.subtotal_micro_usd = addInt8(period.subtotal_micro_usd, l.amountMicroUsd);
          periods.changed(period);
          break;
        }
        case 'SlaCreditIssued': {
          const c = event.data;
          credits.push({
            credit_id: c.creditId, line_id: c.lineId, customer_id: c.customerId, month: c.month, workload_id: c.workloadId, run: c.run, kind: c.kind,
            credit_percent: c.creditPercent, amount_micro_usd: c.amountMicroUsd, issued_at: event.at,
          });
          const period = periods.get(c.customerId, c.month);
          if (period) {
            period.credits_micro_usd = addInt8(period.credits_micro_usd, c.amountMicroUsd);
            periods.changed(period);
          }
          break;
        }
        case 'InvoiceIssued': {
          const i = event.data;
          const period =
            periods.get(i.customerId, i.month) ??
            periods.put({ ...openPeriod(i.customerId, i.month), lines: i.lines, subtotal_micro_usd: i.subtotalMicroUsd, credits_micro_usd: i.creditsMicroUsd });
          Object.assign(period, { status: 'invoiced', invoice_id: i.invoiceId, total_micro_usd: i.totalMicroUsd, issued_at: i.issuedAt });
          periods.changed(period);
          break;
        }
        default:
          continue;
      }
      changes.push({ topic: 'billing', customerId: event.data.customerId, month: event.data.month });
    }
    await insertRows(tx, 'rm_billing_lines', lines);
    await insertRows(tx, 'rm_sla_credits', credits);
    await saveRows(tx, periods);
    return changes;
  },
};
