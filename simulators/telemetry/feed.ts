/**
 * The live telemetry feed: at each sampling moment of the platform's clock, every pool's GPUs are
 * sampled (what each is doing read from the GPU read model) and published on the bus as one
 * message per pool, keyed by the pool.
 */
import type { Logger } from 'pino';
import type { GpuMode } from '../../domain/fleet/gpus.ts';
import type { TelemetryBatch } from '../../domain/fleet/telemetry.ts';
import { iso } from '../../domain/time.ts';
import type { GpuType } from '../../domain/workload/request.ts';
import type { Clock } from '../../infra/clock.ts';
import { TOPICS } from '../../infra/bus/topics.ts';
import type { MessageBus } from '../../infra/bus/types.ts';
import type { Sql } from '../../infra/postgres/database.ts';
import { createGpuTelemetrySimulator, TELEMETRY_INTERVAL_MS } from './gpu-telemetry.ts';

/**
 * `pollMs` bounds the sampling in real time: at most one sampling moment per poll, so a fast clock
 * thins the samples rather than floods the bus. At the default market speed (3,600×) five minutes
 * of market time pass every 83 ms; sampling each of them was over ten thousand GPU samples a
 * second, the largest share of a live server's background work, for a health signal that needs
 * a few samples an hour.
 */
export const startTelemetryFeed = ({ bus, db, clock, seed, logger, pollMs = 1000 }: { bus: MessageBus; db: Sql; clock: Clock; seed: string; logger: Logger; pollMs?: number }) => {
  const simulator = createGpuTelemetrySimulator({ seed });
  let next = Math.ceil(clock.now().getTime() / TELEMETRY_INTERVAL_MS) * TELEMETRY_INTERVAL_MS;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        // at most one sampling moment per poll: a fast clock thins the samples rather than floods the bus
        if (clock.now().getTime() >= next) {
          const at = next;
          next = Math.max(next + TELEMETRY_INTERVAL_MS, Math.floor(clock.now().getTime() / TELEMETRY_INTERVAL_MS) * TELEMETRY_INTERVAL_MS);
          const rows = await db.query<{ resource_id: string; gpu_type: GpuType; gpu_id: string; mode: GpuMode }>(`SELECT resource_id, gpu_type, gpu_id, mode FROM rm_gpus ORDER BY resource_id, gpu_id`);
          const pools = new Map<string, typeof rows>();
          for (const r of rows) pools.set(r.resource_id, [...(pools.get(r.resource_id) ?? []), r]);
          for (const [resourceId, gpus] of pools) {
            const batch: TelemetryBatch = { kind: 'gpu-telemetry', resourceId, at: iso(at), samples: simulator.sample({ resourceId, gpuType: gpus[0]!.gpu_type }, gpus.map((g) => ({ gpuId: g.gpu_id, mode: g.mode })), at) };
            await bus.publish(TOPICS.gpuTelemetry, [{ key: resourceId, value: JSON.stringify(batch) }]);
          }
        }
      } catch (error) {
        if (!stopped) logger.warn({ err: error }, 'telemetry sample not published');
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
};
