/** Read-model queries for the API: SQL rows in, GraphQL-shaped objects out. */
import { formatUsd } from '../domain/money.ts';
import type { Sql } from '../infra/postgres/database.ts';
import { whereEquals } from './sql-filters.ts';
import { iso } from '../domain/time.ts';
import type { WorkloadRow as StoredWorkload } from '../projections/workloads.ts';

export type Amount = { gpuSeconds: number; gpuHours: number; budgetMicroUsd: number; budgetUsd: string };
const amount = (gpuSeconds: number | string, budgetMicroUsd: number | string): Amount => {
  const s = Number(gpuSeconds);
  const b = Number(budgetMicroUsd);
  return { gpuSeconds: s, gpuHours: s / 3600, budgetMicroUsd: b, budgetUsd: formatUsd(b) };
};

type CustomerRow = {
  customer_id: string;
  name: string;
  tier: string;
  registered_at: string | Date;
  granted_gpu_seconds: string;
  granted_budget_micro_usd: string;
  reserved_gpu_seconds: string;
  reserved_budget_micro_usd: string;
  consumed_gpu_seconds: string;
  consumed_budget_micro_usd: string;
};


const toCustomer = (r: CustomerRow) => {
  const granted = amount(r.granted_gpu_seconds, r.granted_budget_micro_usd);
  const reserved = amount(r.reserved_gpu_seconds, r.reserved_budget_micro_usd);
  const consumed = amount(r.consumed_gpu_seconds, r.consumed_budget_micro_usd);
  return {
    id: r.customer_id,
    name: r.name,
    tier: r.tier,
    registeredAt: iso(r.registered_at),
    balance: {
      customerId: r.customer_id,
      granted,
      reserved,
      consumed,
      available: amount(
        granted.gpuSeconds - reserved.gpuSeconds - consumed.gpuSeconds,
        granted.budgetMicroUsd - reserved.budgetMicroUsd - consumed.budgetMicroUsd,
      ),
    },
  };
};
export type CustomerView = ReturnType<typeof toCustomer>;

const CUSTOMER_COLUMNS = `customer_id, name, tier, registered_at, granted_gpu_seconds::text, granted_budget_micro_usd::text,
  reserved_gpu_seconds::text, reserved_budget_micro_usd::text, consumed_gpu_seconds::text, consumed_budget_micro_usd::text`;

export const findCustomer = async (db: Sql, customerId: string) => {
  const [row] = await db.query<CustomerRow>(`SELECT ${CUSTOMER_COLUMNS} FROM rm_customers WHERE customer_id = $1`, [customerId]);
  return row ? toCustomer(row) : undefined;
};

export const listCustomers = async (db: Sql, first: number) =>
  (await db.query<CustomerRow>(`SELECT ${CUSTOMER_COLUMNS} FROM rm_customers ORDER BY customer_id LIMIT $1`, [first])).map(toCustomer);

/** The columns a workload's view reads, its amounts as text (exact). */
type WorkloadRow = Pick<
  StoredWorkload,
  'workload_id' | 'customer_id' | 'type' | 'model' | 'gpu_type' | 'gpu_count' | 'max_latency_ms' | 'duration_seconds' | 'priority' | 'priority_reason' | 'status' | 'submitted_at' | 'updated_at'
> & { reserved_gpu_seconds: string; reserved_budget_micro_usd: string };

const WORKLOAD_COLUMNS = `workload_id, customer_id, type, model, gpu_type, gpu_count, max_latency_ms, duration_seconds, priority,
  priority_reason, status, reserved_gpu_seconds::text, reserved_budget_micro_usd::text, submitted_at, updated_at`;

const toWorkload = (r: WorkloadRow) => ({
  id: r.workload_id,
  customerId: r.customer_id,
  type: r.type,
  model: r.model,
  gpuType: r.gpu_type,
  gpuCount: r.gpu_count,
  maxLatencyMs: r.max_latency_ms,
  durationSeconds: r.duration_seconds,
  durationHours: r.duration_seconds / 3600,
  priority: r.priority,
  priorityReason: r.priority_reason,
  status: r.status,
  reserved: amount(r.reserved_gpu_seconds, r.reserved_budget_micro_usd),
  submittedAt: iso(r.submitted_at),
  updatedAt: iso(r.updated_at),
});
export type WorkloadView = ReturnType<typeof toWorkload>;

/**
 * Workloads asked for in one turn of the event loop, read in one query: the submissions a group
 * commit appended together are answered together, and a page of subscription updates too.
 */
type Asker = { resolve: (w: WorkloadView | undefined) => void; reject: (e: unknown) => void };
const workloadBatches = new WeakMap<Sql, Map<string, Asker[]>>();

const readWorkloads = async (db: Sql, asked: Map<string, Asker[]>) => {
  try {
    const rows = await db.query<WorkloadRow>(`SELECT ${WORKLOAD_COLUMNS} FROM rm_workloads WHERE workload_id = ANY($1::text[])`, [[...asked.keys()]]);
    const found = new Map(rows.map((r) => [r.workload_id, toWorkload(r)]));
    for (const [id, askers] of asked) for (const a of askers) a.resolve(found.get(id));
  } catch (error) {
    for (const askers of asked.values()) for (const a of askers) a.reject(error);
  }
};

export const findWorkload = (db: Sql, workloadId: string) =>
  new Promise<WorkloadView | undefined>((resolve, reject) => {
    let asked = workloadBatches.get(db);
    if (!asked) {
      workloadBatches.set(db, (asked = new Map()));
      const batch = asked;
      setImmediate(() => {
        workloadBatches.delete(db);
        void readWorkloads(db, batch);
      });
    }
    const askers = asked.get(workloadId) ?? [];
    askers.push({ resolve, reject });
    asked.set(workloadId, askers);
  });

export const workloadHistory = async (db: Sql, workloadId: string) =>
  (
    await db.query<{ status: string; reason: string | null; at: string | Date }>(
      `SELECT status, reason, at FROM rm_workload_status_history WHERE workload_id = $1 ORDER BY seq`,
      [workloadId],
    )
  ).map((h) => ({ status: h.status, reason: h.reason, at: iso(h.at) }));

/** Keyset cursor over (submitted_at, workload_id), newest first. */
export const encodeCursor = (w: WorkloadView) => Buffer.from(`${w.submittedAt}|${w.id}`).toString('base64url');
export const decodeCursor = (cursor: string): { at: string; id: string } | undefined => {
  const [at, id, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  // exactly what encodeCursor writes: a UTC ISO time and a workload id (anything else would reach SQL)
  if (!at || !id || extra !== undefined || !/^[A-Za-z0-9_-]{1,128}$/.test(id) || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/.test(at)) return undefined;
  const ms = Date.parse(at);
  if (Number.isNaN(ms) || new Date(ms).getUTCFullYear() < 1 || iso(ms).slice(0, 19) !== at.slice(0, 19)) return undefined;
  return { at, id };
};

export const listWorkloads = async (
  db: Sql,
  filter: { customerId?: string; status?: string; first: number; after?: { at: string; id: string } },
) => {
  const { where, params } = whereEquals([['customer_id', filter.customerId], ['status', filter.status]]);
  const clauses = where ? [where] : [];
  if (filter.after) {
    params.push(filter.after.at, filter.after.id);
    clauses.push(`${where ? 'AND' : 'WHERE'} (submitted_at, workload_id) < ($${params.length - 1}::timestamptz, $${params.length})`);
  }
  params.push(filter.first + 1);
  const rows = await db.query<WorkloadRow>(
    `SELECT ${WORKLOAD_COLUMNS} FROM rm_workloads ${clauses.join(' ')}
      ORDER BY submitted_at DESC, workload_id DESC LIMIT $${params.length}`,
    params,
  );
  const nodes = rows.slice(0, filter.first).map(toWorkload);
  return {
    nodes,
    edges: nodes.map((node) => ({ cursor: encodeCursor(node), node })),
    pageInfo: { hasNextPage: rows.length > filter.first, endCursor: nodes.length ? encodeCursor(nodes.at(-1)!) : null },
  };
};

export const findApiKey = async (db: Sql, keyId: string) => {
  const [row] = await db.query<{ key_id: string; role: string; customer_id: string | null; revoked: boolean; label: string }>(
    `SELECT key_id, role, customer_id, revoked, label FROM rm_api_keys WHERE key_id = $1`,
    [keyId],
  );
  return row ? { keyId: row.key_id, role: row.role, customerId: row.customer_id, revoked: row.revoked, label: row.label } : undefined;
};
