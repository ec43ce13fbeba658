/** Read model of the GPU fleet unit by unit: each GPU's host, health, service, model and workload, and each pool's warm targets. */
import { gpuIdOf, GPUS_PER_HOST } from '../domain/fleet/gpus.ts';
import type { ResourceEvent } from '../domain/resource/resource.ts';
import type { GpuType } from '../domain/workload/request.ts';
import type { Change, Projection } from './projection.ts';
import { loadRows, saveRows, type RowTable } from './rows.ts';

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

const GPUS: RowTable = { name: 'rm_gpus', key: ['gpu_id'] };

type GpuRow = {
  gpu_id: string;
  resource_id: string;
  facility_id: string;
  gpu_type: string;
  host: number;
  slot: number;
  health: string;
  in_service: boolean;
  model: string | null;
  warming: boolean;
  workload_id: string | null;
  run: number | null;
  mode: string;
  updated_at: string | Date;
};

/** The GPUs an event names (a pool's registration names all of its units). */
const gpuIdsOf = (event: ResourceEvent): readonly string[] => {
  switch (event.type) {
    case 'ResourceRegistered':
      return event.data.kind === 'gpu_pool' ? Array.from({ length: event.data.units }, (_, i) => gpuIdOf(event.data.resourceId, event.data.model as GpuType, i)) : [];
    case 'ResourceAllocated':
    case 'ResourceReleased':
      return event.data.gpuIds ?? [];
    case 'ResourceHealthChanged':
      return event.data.gpuId === undefined ? [] : [event.data.gpuId];
    case 'GpuServiceChanged':
      return [event.data.gpuId];
    case 'GpusWarming':
    case 'GpusWarmed':
    case 'GpusCooled':
      return event.data.gpuIds;
    default:
      return [];
  }
};

/** A GPU's mode without work: warming, warm standby with a model, else off. */
const idleMode = (gpu: GpuRow) => (gpu.warming ? 'warming' : gpu.model !== null ? 'warm_standby' : 'off');

/**
 * How an event changes one GPU it names (which exists). A GPU's mode is its workload's while it
 * has one, else its idle mode after the change.
 */
const evolveGpu = (gpu: GpuRow, event: ResourceEvent, at: string) => {
  switch (event.type) {
    case 'ResourceAllocated':
      Object.assign(gpu, { workload_id: event.data.workloadId, run: event.data.run ?? 0, mode: event.data.mode ?? 'serving', model: event.data.model ?? gpu.model, warming: false });
      break;
    case 'ResourceReleased':
      Object.assign(gpu, { workload_id: null, run: null, model: event.data.keptModel ?? null });
      break;
    case 'ResourceHealthChanged': {
      const d = event.data;
      if (d.gpuId === undefined) return;
      gpu.health = d.health;
      if (d.health === 'failed') Object.assign(gpu, { model: null, warming: false });
      break;
    }
    case 'GpuServiceChanged':
      gpu.in_service = event.data.inService;
      break;
    case 'GpusWarming':
      Object.assign(gpu, { warming: true, model: event.data.model });
      break;
    case 'GpusWarmed':
      Object.assign(gpu, { warming: false, model: event.data.model ?? null });
      break;
    case 'GpusCooled':
      Object.assign(gpu, { warming: false, model: null });
      break;
    default:
      return;
  }
  if (gpu.workload_id === null) gpu.mode = idleMode(gpu);
  gpu.updated_at = at;
};

export const gpusProjection: Projection = {
  name: 'gpus',
  eventTypes: new Set(['ResourceRegistered', 'ResourceAllocated', 'ResourceReleased', 'ResourceHealthChanged', 'GpuServiceChanged', 'GpusWarming', 'GpusWarmed', 'GpusCooled', 'WarmStandbySized']),
  schema: SCHEMA,
  tables: ['rm_warm_targets', 'rm_gpus'],
  async apply(tx, recorded): Promise<Change[]> {
    const events = recorded.map((e) => ({ event: { type: e.type, data: e.data } as ResourceEvent, at: e.metadata.occurredAt }));
    const gpus = await loadRows<GpuRow>(tx, GPUS, events.flatMap(({ event }) => gpuIdsOf(event).map((id) => [id])));
    const changes: Change[] = [];
    for (const { event, at } of events) {
      const ids = gpuIdsOf(event);
      if (event.type === 'ResourceRegistered') {
        const r = event.data;
        const perHost = GPUS_PER_HOST[r.model as GpuType];
        ids.forEach((id, i) => {
          if (!gpus.get(id))
            gpus.put({ gpu_id: id, resource_id: r.resourceId, facility_id: r.facilityId, gpu_type: r.model, host: Math.floor(i / perHost) + 1, slot: i % perHost,
              health: 'healthy', in_service: true, model: null, warming: false, workload_id: null, run: null, mode: 'off', updated_at: at });
        });
        continue;
      }
      if (event.type === 'WarmStandbySized') {
        await tx.query(`DELETE FROM rm_warm_targets WHERE resource_id = $1`, [event.data.resourceId]);
        const targets = Object.entries(event.data.targets);
        if (targets.length > 0)
          await tx.query(`INSERT INTO rm_warm_targets (resource_id, model, target) SELECT $1, m, t FROM unnest($2::text[], $3::int[]) AS x(m, t)`, [
            event.data.resourceId, targets.map(([m]) => m), targets.map(([, t]) => t),
          ]);
      } else {
        if (ids.length === 0) continue;
        for (const id of ids) {
          const gpu = gpus.get(id);
          if (!gpu) continue;
          evolveGpu(gpu, event, at);
          gpus.changed(gpu);
        }
      }
      changes.push({ topic: 'gpus', resourceId: event.data.resourceId });
    }
    await saveRows(tx, gpus);
    return changes;
  },
};
