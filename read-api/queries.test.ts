/**
 * Workloads asked for in one turn of the event loop are read in one query, each asker answered
 * with its own (or nothing), and a failed read fails every one of them.
 */
import { describe, expect, it } from 'vitest';
import type { Sql } from '../infra/postgres/database.ts';
import { findWorkload } from './queries.ts';

const row = (id: string) => ({
  workload_id: id,
  customer_id: `c-of-${id}`,
  type: 'ai_inference_batch',
  model: 'llama-3-8b',
  gpu_type: 'A100',
  gpu_count: 1,
  max_latency_ms: null,
  duration_seconds: 3600,
  priority: 'P3',
  priority_reason: 'batch',
  status: 'queued',
  reserved_gpu_seconds: '3600',
  reserved_budget_micro_usd: '1000000',
  submitted_at: '2026-12-07T00:00:00.000Z',
  updated_at: '2026-12-07T00:00:00.000Z',
});

/** Read models holding workloads `w-1` and `w-2`, counting queries. */
const readModels = (fail = false) => {
  const queries: unknown[][] = [];
  const db: Sql = {
    query: async <R>(_q: unknown, params?: readonly unknown[]) => {
      queries.push([...(params ?? [])]);
      if (fail) throw new Error('the server went away');
      const asked = params![0] as string[];
      return asked.filter((id) => id === 'w-1' || id === 'w-2').map(row) as R[];
    },
  };
  return { db, queries };
};

describe('findWorkload', () => {
  it('reads the workloads asked for in one turn in one query, each answered with its own', async () => {
    const { db, queries } = readModels();
    const [a, b, again, missing] = await Promise.all([findWorkload(db, 'w-1'), findWorkload(db, 'w-2'), findWorkload(db, 'w-1'), findWorkload(db, 'w-9')]);
    expect(queries).toHaveLength(1);
    expect(a?.id).toBe('w-1');
    expect(a?.customerId).toBe('c-of-w-1');
    expect(b?.id).toBe('w-2');
    expect(again?.id).toBe('w-1');
    expect(missing).toBeUndefined();
    // a later turn is a query of its own
    expect((await findWorkload(db, 'w-2'))?.id).toBe('w-2');
    expect(queries).toHaveLength(2);
  });

  it('fails every asker of a failed read', async () => {
    const { db } = readModels(true);
    const results = await Promise.allSettled([findWorkload(db, 'w-1'), findWorkload(db, 'w-2')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
