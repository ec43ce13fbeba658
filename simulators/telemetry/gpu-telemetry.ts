/**
 * Simulated GPU telemetry, seeded: for each GPU at each sampling moment, a temperature and power
 * draw that follow what it is doing (off, warm, loading, serving, training), and now and then a
 * fault that lasts: a thermal or memory problem (degraded, for half an hour to two hours) about
 * once per 4,000 GPU-hours, a hard fault (an XID error, failed, until repaired two to six hours
 * later) about once per 20,000 GPU-hours — for the seed's 1,152 GPUs, some seven degradations and
 * one or two failures a day.
 */
import { GPU_MODELS } from '../../domain/fleet/inventory.ts';
import type { GpuMode } from '../../domain/fleet/gpus.ts';
import type { GpuSample } from '../../domain/fleet/telemetry.ts';
import type { GpuType } from '../../domain/workload/request.ts';
import { HOUR_MS, MINUTE_MS } from '../../domain/time.ts';
import { createRng, type Rng } from '../random.ts';

export const TELEMETRY_INTERVAL_MS = 5 * MINUTE_MS;
export const DEGRADE_PER_GPU_HOUR = 1 / 4_000;
export const FAIL_PER_GPU_HOUR = 1 / 20_000;

const LOAD: Record<GpuMode, { heatC: number; power: number }> = {
  off: { heatC: 0, power: 0.02 },
  warm_standby: { heatC: 8, power: 0.1 },
  warming: { heatC: 15, power: 0.4 },
  serving: { heatC: 36, power: 0.8 },
  training: { heatC: 44, power: 0.95 },
};
const AMBIENT_C = 28;

type Fault = { kind: 'degraded' | 'failed'; untilMs: number; thermal: boolean };

export type GpuTelemetrySimulator = {
  /** Samples of a pool's GPUs at `atMs`, given what each is doing. */
  sample(pool: { resourceId: string; gpuType: GpuType }, gpus: ReadonlyArray<{ gpuId: string; mode: GpuMode }>, atMs: number): GpuSample[];
};

export const createGpuTelemetrySimulator = ({ seed, intervalMs = TELEMETRY_INTERVAL_MS }: { seed: string; intervalMs?: number }): GpuTelemetrySimulator => {
  const rngs = new Map<string, Rng>();
  const faults = new Map<string, Fault>();
  const rngOf = (gpuId: string) => {
    let r = rngs.get(gpuId);
    if (!r) rngs.set(gpuId, (r = createRng(`telemetry/${seed}/${gpuId}`)));
    return r;
  };
  const hours = intervalMs / HOUR_MS;
  return {
    sample(pool, gpus, atMs) {
      const tdp = GPU_MODELS[pool.gpuType].powerW;
      return gpus.map(({ gpuId, mode }) => {
        const rng = rngOf(gpuId);
        let fault = faults.get(gpuId);
        if (fault && fault.untilMs <= atMs) {
          faults.delete(gpuId);
          fault = undefined;
        }
        const u = rng.next();
        if (!fault && u < FAIL_PER_GPU_HOUR * hours) faults.set(gpuId, (fault = { kind: 'failed', untilMs: atMs + rng.uniform(2, 6) * HOUR_MS, thermal: false }));
        else if (!fault && u < (FAIL_PER_GPU_HOUR + DEGRADE_PER_GPU_HOUR) * hours)
          faults.set(gpuId, (fault = { kind: 'degraded', untilMs: atMs + rng.uniform(0.5, 2) * HOUR_MS, thermal: rng.next() < 0.5 }));
        const load = LOAD[mode];
        const noise = rng.normal(0, 1.5);
        const temperatureC = Math.round((AMBIENT_C + load.heatC + noise + (fault?.kind === 'degraded' && fault.thermal ? 24 : 0)) * 10) / 10;
        return {
          gpuId,
          temperatureC,
          powerW: Math.round(tdp * load.power * (1 + rng.normal(0, 0.03))),
          eccErrors: fault?.kind === 'degraded' && !fault.thermal ? 1 + rng.int(0, 3) : 0,
          xidErrors: fault?.kind === 'failed' ? 1 : 0,
        };
      });
    },
  };
};
