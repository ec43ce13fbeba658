/**
 * Billing: a customer's usage of a month, its billing lines, SLA credits and invoices (a
 * customer its own, staff anyone's), and the price list (everyone reads it; an admin sets a new
 * version, effective now or later).
 */
import { z } from 'zod';
import { setPriceList } from '../commands/price-list.ts';
import { GPU_TYPES } from '../domain/workload/request.ts';
import { TIERS, type Rates } from '../domain/billing/price-list.ts';
import { formatUsd, parseUsd } from '../domain/money.ts';
import { iso, isMonth, isoOrNull, monthEndMs, monthOf } from '../domain/time.ts';
import type { Sql } from '../infra/postgres/database.ts';
import { requireRole, scopeCustomer, type Principal } from './auth.ts';
import { renameRejectedField } from './errors.ts';
import { freeText, idSchema, InputError, parseInput } from './inputs.ts';
import { INVOICE_GRACE_MS } from '../commands/billing/metering.ts';
import { AS_OF_DOC, asOfView } from './as-of.ts';
import { callerOf, settled } from './mutation-support.ts';
import type { ApiContext, ApiServices } from './resolvers.ts';

export const billingTypeDefs = /* GraphQL */ `
  type BillingLine {
    lineId: ID!
    month: String!
    workloadId: ID!
    run: Int!
    gpuType: GpuType!
    priority: Priority!
    gpuCount: Int!
    model: String!
    startedAt: String!
    endedAt: String!
    "completion, customer (cancelled) or platform (preempted, interrupted, failed: no minimum)."
    endedBy: String!
    ranSeconds: Int!
    "Per GPU: per second, at least 60 s a run unless the platform ended it."
    billedSeconds: Int!
    gpuSeconds: SafeInt!
    ratePerGpuHour: Money!
    priceListVersion: Int!
    amount: Money!
    "The month it ended in, when that month was invoiced already."
    lateFrom: String
  }
  type SlaCredit { creditId: ID!, lineId: ID!, workloadId: ID!, run: Int!, kind: String!, creditPercent: Int!, amount: Money!, issuedAt: String! }
  type BillingLineEdge { cursor: String!, node: BillingLine! }
  type BillingLineConnection { edges: [BillingLineEdge!]!, nodes: [BillingLine!]!, pageInfo: PageInfo! }

  "A customer's month: billed so far (or invoiced)."
  type Usage {
    customerId: ID!
    month: String!
    "open while the month runs, invoiced once it has closed."
    status: String!
    lines: Int!
    gpuSeconds: SafeInt!
    gpuHours: Float!
    subtotal: Money!
    credits: Money!
    total: Money!
  }
  type Invoice { invoiceId: ID!, customerId: ID!, month: String!, lines: Int!, subtotal: Money!, credits: Money!, total: Money!, issuedAt: String!, slaCredits: [SlaCredit!]! }

  type Rate { gpuType: GpuType!, priority: Priority!, perGpuHour: Money! }
  type PriceListVersion { version: Int!, effectiveFrom: String!, reason: String!, rates: [Rate!]! }
  type PriceList { "The version in force now." current: PriceListVersion, versions: [PriceListVersion!]! }

  input RateInput { gpuType: GpuType!, priority: Priority!, "Decimal USD per GPU-hour, e.g. \\"3.50\\"." usdPerGpuHour: String! }
  input SetPriceListInput { "ISO time, now or later (the past is billed already)." effectiveFrom: String!, rates: [RateInput!]!, reason: String }

  extend type Query {
    "A month's usage (yyyymm; default the current month)."
    usage(month: String, customerId: ID, ${AS_OF_DOC} asOf: String): Usage!
    billingLines(month: String!, customerId: ID, first: Int = 100, after: String): BillingLineConnection!
    "Invoices, newest first; with a month, that month's (refused while it has not closed)."
    invoices(month: String, customerId: ID): [Invoice!]!
    priceList: PriceList!
  }
  extend type Mutation {
    "Admin: a new version of the price list."
    setPriceList(input: SetPriceListInput!, commandId: ID): PriceList!
  }
`;

const money = (micro: number | string) => ({ microUsd: Number(micro), usd: formatUsd(Number(micro)) });

const monthInput = z.string().refine(isMonth, 'a month as yyyymm, e.g. 202308');

type LineRow = {
  line_id: string; month: string; workload_id: string; run: number; gpu_type: string; priority: string; gpu_count: number; model: string;
  started_at: string | Date; ended_at: string | Date; ended_by: string; ran_seconds: string; billed_seconds: string; gpu_seconds: string;
  rate_micro_usd_per_gpu_hour: string; price_list_version: number; amount_micro_usd: string; late_from: string | null;
};
const toLine = (r: LineRow) => ({
  lineId: r.line_id,
  month: r.month,
  workloadId: r.workload_id,
  run: r.run,
  gpuType: r.gpu_type,
  priority: r.priority,
  gpuCount: r.gpu_count,
  model: r.model,
  startedAt: iso(r.started_at),
  endedAt: iso(r.ended_at),
  endedBy: r.ended_by,
  ranSeconds: Number(r.ran_seconds),
  billedSeconds: Number(r.billed_seconds),
  gpuSeconds: Number(r.gpu_seconds),
  ratePerGpuHour: money(r.rate_micro_usd_per_gpu_hour),
  priceListVersion: r.price_list_version,
  amount: money(r.amount_micro_usd),
  lateFrom: r.late_from,
});
const LINE_COLUMNS = `line_id, month, workload_id, run, gpu_type, priority, gpu_count, model, started_at, ended_at, ended_by, ran_seconds::text, billed_seconds::text,
  gpu_seconds::text, rate_micro_usd_per_gpu_hour::text, price_list_version, amount_micro_usd::text, late_from`;

const cursorOf = (l: { endedAt: string; lineId: string }) => Buffer.from(`${l.endedAt}|${l.lineId}`).toString('base64url');
const decodeLineCursor = (cursor: string) => {
  const [at, id, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!at || !id || extra !== undefined || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(at) || Number.isNaN(Date.parse(at)) || !/^[A-Za-z0-9_.:-]{1,200}$/.test(id)) return undefined;
  return { at, id };
};

type PeriodRow = { customer_id: string; month: string; status: string; lines: number; subtotal_micro_usd: string; credits_micro_usd: string; invoice_id: string | null; total_micro_usd: string | null; issued_at: string | Date | null };
const PERIOD_COLUMNS = `customer_id, month, status, lines, subtotal_micro_usd::text, credits_micro_usd::text, invoice_id, total_micro_usd::text, issued_at`;

const creditsOf = async (db: Sql, customerId: string, month: string) =>
  (
    await db.query<{ credit_id: string; line_id: string; workload_id: string; run: number; kind: string; credit_percent: number; amount_micro_usd: string; issued_at: string | Date }>(
      `SELECT credit_id, line_id, workload_id, run, kind, credit_percent, amount_micro_usd::text, issued_at FROM rm_sla_credits WHERE customer_id = $1 AND month = $2 ORDER BY issued_at, credit_id`,
      [customerId, month],
    )
  ).map((c) => ({ creditId: c.credit_id, lineId: c.line_id, workloadId: c.workload_id, run: c.run, kind: c.kind, creditPercent: c.credit_percent, amount: money(c.amount_micro_usd), issuedAt: iso(c.issued_at) }));

const toInvoice = async (db: Sql, p: PeriodRow) => ({
  invoiceId: p.invoice_id!,
  customerId: p.customer_id,
  month: p.month,
  lines: p.lines,
  subtotal: money(p.subtotal_micro_usd),
  credits: money(p.credits_micro_usd),
  total: money(p.total_micro_usd!),
  issuedAt: isoOrNull(p.issued_at)!,
  slaCredits: await creditsOf(db, p.customer_id, p.month),
});

type PriceRow = { version: number; effective_from: string | Date; reason: string; rates: Rates };
const toVersion = (r: PriceRow) => ({
  version: r.version,
  effectiveFrom: iso(r.effective_from),
  reason: r.reason,
  rates: GPU_TYPES.flatMap((gpuType) => TIERS.map((priority) => ({ gpuType, priority, perGpuHour: money(r.rates[gpuType][priority]) }))),
});
export const priceListView = async (db: Sql, nowMs: number) => {
  const rows = await db.query<PriceRow>(`SELECT version, effective_from, reason, rates FROM rm_price_list ORDER BY version`);
  const versions = rows.map(toVersion);
  const current = [...versions].filter((v) => Date.parse(v.effectiveFrom) <= nowMs).sort((a, b) => Date.parse(b.effectiveFrom) - Date.parse(a.effectiveFrom) || b.version - a.version)[0] ?? null;
  return { current, versions };
};

/** The customer a billing query is about: a customer itself; staff must name one. */
const customerOf = (principal: Principal, requested: string | null | undefined) => {
  const customerId = scopeCustomer(principal, requested == null ? undefined : parseInput(idSchema, requested, 'customerId'));
  if (!customerId) throw new InputError('customerId', 'staff must name the customer');
  return customerId;
};

const rateInput = z.strictObject({
  gpuType: z.enum(GPU_TYPES),
  priority: z.enum(['P1', 'P2', 'P3']),
  usdPerGpuHour: z.string().max(24).refine((s) => parseUsd(s) !== undefined, 'a decimal USD amount with at most 6 decimals, e.g. "3.50"'),
});
const setPriceListInput = z.strictObject({
  effectiveFrom: z.iso.datetime({ offset: true }),
  rates: z.array(rateInput).min(1).max(50),
  reason: freeText(200).optional().nullable(),
});

export const createBillingResolvers = (services: ApiServices) => {
  const { readModels: db } = services;
  const now = () => services.deps.clock.now().getTime();
  return {
    Query: {
      usage: async (_: unknown, args: { month?: string | null; customerId?: string | null; asOf?: string | null }, ctx: ApiContext) => {
        const customerId = customerOf(ctx.principal, args.customerId);
        const view = await asOfView(services, ctx.principal, args.asOf, ['rm_billing_periods', 'rm_billing_lines']);
        const month = args.month == null ? monthOf(view?.atMs ?? now()) : parseInput(monthInput, args.month, 'month');
        const [p] = await (view?.readModels ?? db).query<PeriodRow & { gpu_seconds: string | null }>(
          `SELECT ${PERIOD_COLUMNS}, (SELECT sum(gpu_seconds)::text FROM rm_billing_lines l WHERE l.customer_id = p.customer_id AND l.month = p.month) AS gpu_seconds
             FROM rm_billing_periods p WHERE customer_id = $1 AND month = $2`,
          [customerId, month],
        );
        const gpuSeconds = Number(p?.gpu_seconds ?? 0);
        const subtotal = Number(p?.subtotal_micro_usd ?? 0);
        const credits = Number(p?.credits_micro_usd ?? 0);
        return { customerId, month, status: p?.status ?? 'open', lines: p?.lines ?? 0, gpuSeconds, gpuHours: gpuSeconds / 3600, subtotal: money(subtotal), credits: money(credits), total: money(subtotal - credits) };
      },
      billingLines: async (_: unknown, args: { month: string; customerId?: string | null; first?: number | null; after?: string | null }, ctx: ApiContext) => {
        const customerId = customerOf(ctx.principal, args.customerId);
        const month = parseInput(monthInput, args.month, 'month');
        const first = parseInput(z.number().int().min(1).max(500), args.first ?? 100, 'first');
        const after = args.after == null ? undefined : decodeLineCursor(args.after);
        if (args.after != null && !after) throw new InputError('after', 'not a cursor from this API');
        const rows = await db.query<LineRow>(
          `SELECT ${LINE_COLUMNS} FROM rm_billing_lines WHERE customer_id = $1 AND month = $2 ${after ? 'AND (ended_at, line_id) > ($4::timestamptz, $5)' : ''}
            ORDER BY ended_at, line_id LIMIT $3`,
          after ? [customerId, month, first + 1, after.at, after.id] : [customerId, month, first + 1],
        );
        const nodes = rows.slice(0, first).map(toLine);
        return { nodes, edges: nodes.map((node) => ({ cursor: cursorOf(node), node })), pageInfo: { hasNextPage: rows.length > first, endCursor: nodes.length ? cursorOf(nodes.at(-1)!) : null } };
      },
      invoices: async (_: unknown, args: { month?: string | null; customerId?: string | null }, ctx: ApiContext) => {
        const customerId = customerOf(ctx.principal, args.customerId);
        if (args.month != null) {
          const month = parseInput(monthInput, args.month, 'month');
          const [p] = await db.query<PeriodRow>(`SELECT ${PERIOD_COLUMNS} FROM rm_billing_periods WHERE customer_id = $1 AND month = $2`, [customerId, month]);
          if (p?.status === 'invoiced') return [await toInvoice(db, p)];
          if (now() < monthEndMs(month) + INVOICE_GRACE_MS) throw new InputError('month', `${month} has not closed: its invoice is issued an hour after the month ends (${iso(monthEndMs(month) + INVOICE_GRACE_MS)}, platform time)`);
          return []; // closed, and nothing was billed in it
        }
        const periods = await db.query<PeriodRow>(`SELECT ${PERIOD_COLUMNS} FROM rm_billing_periods WHERE customer_id = $1 AND status = 'invoiced' ORDER BY month DESC LIMIT 120`, [customerId]);
        return Promise.all(periods.map((p) => toInvoice(db, p)));
      },
      priceList: () => priceListView(db, now()),
    },
    Mutation: {
      setPriceList: async (_: unknown, args: { input: unknown; commandId?: string }, ctx: ApiContext) => {
        requireRole(ctx.principal, 'admin');
        const input = parseInput(setPriceListInput, args.input, 'input');
        const rates = Object.fromEntries(GPU_TYPES.map((g) => [g, {}])) as Record<string, Record<string, number>>;
        for (const [i, r] of input.rates.entries()) {
          if (rates[r.gpuType]![r.priority] !== undefined) throw new InputError(`input.rates.${i}`, `${r.gpuType} ${r.priority} is given twice`);
          rates[r.gpuType]![r.priority] = parseUsd(r.usdPerGpuHour)!;
        }
        const handled = await setPriceList(services.deps, callerOf(services, ctx, 'setPriceList', args), {
          effectiveFromMs: Date.parse(input.effectiveFrom),
          rates: rates as Rates,
          reason: input.reason ?? 'set by an admin',
        }).catch(renameRejectedField((field) => (field.startsWith('rates.') || field === 'effectiveFrom' ? `input.${field}` : undefined)));
        await settled(services, handled.position);
        return priceListView(db, now());
      },
    },
  };
};
