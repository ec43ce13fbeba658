/** Read model of billing: the price list's versions, each run's line, the SLA credits, and each customer's months and invoices. */
import type { BillingEvent } from '../domain/billing/billing.ts';
import type { PriceListEvent } from '../domain/billing/price-list.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';
import type { Change, Projection } from './projection.ts';

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

export const billingProjection: Projection = {
  name: 'billing',
  eventTypes: new Set(['PriceListSet', 'BillingLineRecorded', 'SlaCreditIssued', 'InvoiceIssued']),
  schema: SCHEMA,
  tables: ['rm_billing_periods', 'rm_sla_credits', 'rm_billing_lines', 'rm_price_list'],
  async apply(tx, recorded: RecordedEvent): Promise<Change[]> {
    const event = { type: recorded.type, data: recorded.data } as BillingEvent | PriceListEvent;
    const at = recorded.metadata.occurredAt;
    switch (event.type) {
      case 'PriceListSet':
        await tx.query(`INSERT INTO rm_price_list (version, effective_from, rates, reason, set_at) VALUES ($1, $2, $3::jsonb, $4, $5) ON CONFLICT DO NOTHING`, [
          event.data.version,
          event.data.effectiveFrom,
          JSON.stringify(event.data.rates),
          event.data.reason,
          at,
        ]);
        return [{ topic: 'price-list' }];
      case 'BillingLineRecorded': {
        const l = event.data;
        await tx.query(
          `INSERT INTO rm_billing_lines (line_id, customer_id, month, workload_id, run, gpu_type, priority, gpu_count, model, started_at, ended_at, ended_by,
             ran_seconds, billed_seconds, gpu_seconds, rate_micro_usd_per_gpu_hour, price_list_version, amount_micro_usd, late_from)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT DO NOTHING`,
          [l.lineId, l.customerId, l.month, l.workloadId, l.run, l.gpuType, l.priority, l.gpuCount, l.model, l.startedAt, l.endedAt, l.endedBy,
            l.ranSeconds, l.billedSeconds, l.gpuSeconds, l.rateMicroUsdPerGpuHour, l.priceListVersion, l.amountMicroUsd, l.lateFrom ?? null],
        );
        await tx.query(
          `INSERT INTO rm_billing_periods (customer_id, month, status, lines, subtotal_micro_usd) VALUES ($1, $2, 'open', 1, $3)
           ON CONFLICT (customer_id, month) DO UPDATE SET lines = rm_billing_periods.lines + 1, subtotal_micro_usd = rm_billing_periods.subtotal_micro_usd + excluded.subtotal_micro_usd`,
          [l.customerId, l.month, l.amountMicroUsd],
        );
        return [{ topic: 'billing', customerId: l.customerId, month: l.month }];
      }
      case 'SlaCreditIssued': {
        const c = event.data;
        await tx.query(
          `INSERT INTO rm_sla_credits (credit_id, line_id, customer_id, month, workload_id, run, kind, credit_percent, amount_micro_usd, issued_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
          [c.creditId, c.lineId, c.customerId, c.month, c.workloadId, c.run, c.kind, c.creditPercent, c.amountMicroUsd, at],
        );
        await tx.query(`UPDATE rm_billing_periods SET credits_micro_usd = credits_micro_usd + $3 WHERE customer_id = $1 AND month = $2`, [c.customerId, c.month, c.amountMicroUsd]);
        return [{ topic: 'billing', customerId: c.customerId, month: c.month }];
      }
      case 'InvoiceIssued': {
        const i = event.data;
        await tx.query(
          `INSERT INTO rm_billing_periods (customer_id, month, status, lines, subtotal_micro_usd, credits_micro_usd, invoice_id, total_micro_usd, issued_at)
           VALUES ($1, $2, 'invoiced', $3, $4, $5, $6, $7, $8)
           ON CONFLICT (customer_id, month) DO UPDATE SET status = 'invoiced', invoice_id = $6, total_micro_usd = $7, issued_at = $8`,
          [i.customerId, i.month, i.lines, i.subtotalMicroUsd, i.creditsMicroUsd, i.invoiceId, i.totalMicroUsd, i.issuedAt],
        );
        return [{ topic: 'billing', customerId: i.customerId, month: i.month }];
      }
      default:
        return [];
    }
  },
};
