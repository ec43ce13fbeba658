/** Read model of the GPU fleet unit by unit: each GPU's host, health, service, model and workload, and each pool's warm targets. */
import { gpuIdOf, GPUS_PER_HOST } from '../domain/fleet/gpus.ts';
import type { ResourceEvent } from '../domain/resource/resource.ts';
import type { GpuType } from '../domain/workload/request.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';
import type { Sql } from '../infra/postgres/database.ts';
import type { Change, Projection } from './projection.ts';

const SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS rm_gpus (
  gpu_id       text PRIMARY KEY,
  resource_id  text NOT NULL,
  facility_id  text NOT NULL,
  gpu_type     text NOT NULL,
  host         integer NOT NULL,
  slot         integer NOT NULL,
  health       text NOT NULL DEFAULT 'healthy',
  in_service   boolean NOT NULL DEFAULT true,
  model        text,
  warming      boolean NOT NULL DEFAULT false,
  workload_id  text,
  run          integer,
  mode         text NOT NULL DEFAULT 'off',
  updated_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_gpus_by_pool ON rm_gpus (resource_id, gpu_id);
CREATE INDEX IF NOT EXISTS rm_gpus_by_workload ON rm_gpus (workload_id) WHERE workload_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS rm_warm_targets (
  resource_id text NOT NULL,
  model       text NOT NULL,
  target      integer NOT NULL,
  PRIMARY KEY (resource_id, model)
);
`;

/**
 * A GPU's mode: its workload's, else warming or warm standby with a model, else off. Each update
 * sets it in the same statement from what the row becomes (`idle`: the mode of a GPU without
 * work, in the row's values after the update, which SET reads as they were before it).
 */
const update = (tx: Sql, gpuIds: readonly string[], set: string, params: unknown[], at: string, idle: string) =>
  tx.query(`UPDATE rm_gpus SET ${set}, mode = CASE WHEN workload_id IS NOT NULL THEN mode ELSE ${idle} END, updated_at = $2 WHERE gpu_id = ANY($1)`, [gpuIds, at, ...params]);
/** The mode of a GPU without work, warming as it is, holding `model` (a column or a parameter). */
const idleWith = (model: string) => `CASE WHEN warming THEN 'warming' WHEN ${model} IS NOT NULL THEN 'warm_standby' ELSE 'off' END`;
/** The same for an update that leaves warming and model as they are. */
const IDLE_AS_IS = idleWith('model');

export const gpusProjection: Projection = {
  name: 'gpus',
  eventTypes: new Set(['ResourceRegistered', 'ResourceAllocated', 'ResourceReleased', 'ResourceHealthChanged', 'GpuServiceChanged', 'GpusWarming', 'GpusWarmed', 'GpusCooled', 'WarmStandbySized']),
  schema: SCHEMA,
  tables: ['rm_warm_targets', 'rm_gpus'],
  async apply(tx, recorded: RecordedEvent): Promise<Change[]> {
    const event = { type: recorded.type, data: recorded.data } as ResourceEvent;
    const at = recorded.metadata.occurredAt;
    switch (event.type) {
      case 'ResourceRegistered': {
        const r = event.data;
        if (r.kind !== 'gpu_pool') return [];
        const type = r.model as GpuType;
        const ids = Array.from({ length: r.units }, (_, i) => gpuIdOf(r.resourceId, type, i));
        await tx.query(
          `INSERT INTO rm_gpus (gpu_id, resource_id, facility_id, gpu_type, host, slot, updated_at)
           SELECT id, $2, $3, $4, (ord - 1) / $5 + 1, (ord - 1) % $5, $6 FROM unnest($1::text[]) WITH ORDINALITY AS t(id, ord)
           ON CONFLICT (gpu_id) DO NOTHING`,
          [ids, r.resourceId, r.facilityId, type, GPUS_PER_HOST[type], at],
        );
        return [];
      }
      case 'ResourceAllocated':
        if (!event.data.gpuIds) return [];
        await tx.query(`UPDATE rm_gpus SET workload_id = $3, run = $4, mode = $5, model = coalesce($6, model), warming = false, updated_at = $2 WHERE gpu_id = ANY($1)`, [
          event.data.gpuIds,
          at,
          event.data.workloadId,
          event.data.run ?? 0,
          event.data.mode ?? 'serving',
          event.data.model ?? null,
        ]);
        break;
      case 'ResourceReleased':
        if (!event.data.gpuIds) return [];
        // the work leaves: the mode is the idle one, whatever the row held
        await tx.query(
          `UPDATE rm_gpus SET workload_id = NULL, run = NULL, model = $3, mode = ${idleWith('$3::text')}, updated_at = $2 WHERE gpu_id = ANY($1)`,
          [event.data.gpuIds, at, event.data.keptModel ?? null],
        );
        break;
      case 'ResourceHealthChanged':
        if (event.data.gpuId === undefined) return [];
        await update(tx, [event.data.gpuId], `health = $3${event.data.health === 'failed' ? ', model = NULL, warming = false' : ''}`, [event.data.health], at, event.data.health === 'failed' ? `'off'` : IDLE_AS_IS);
        break;
      case 'GpuServiceChanged':
        await update(tx, [event.data.gpuId], `in_service = $3`, [event.data.inService], at, IDLE_AS_IS);
        break;
      case 'GpusWarming':
        await update(tx, event.data.gpuIds, `warming = true, model = $3`, [event.data.model], at, `'warming'`);
        break;
      case 'GpusWarmed':
        await update(tx, event.data.gpuIds, `warming = false, model = $3`, [event.data.model], at, `CASE WHEN $3::text IS NOT NULL THEN 'warm_standby' ELSE 'off' END`);
        break;
      case 'GpusCooled':
        await update(tx, event.data.gpuIds, `warming = false, model = NULL`, [], at, `'off'`);
        break;
      case 'WarmStandbySized':
        await tx.query(`DELETE FROM rm_warm_targets WHERE resource_id = $1`, [event.data.resourceId]);
        for (const [model, target] of Object.entries(event.data.targets))
          await tx.query(`INSERT INTO rm_warm_targets (resource_id, model, target) VALUES ($1, $2, $3)`, [event.data.resourceId, model, target]);
        break;
      default:
        return [];
    }
    return [{ topic: 'gpus', resourceId: event.data.resourceId }];
  },
};
