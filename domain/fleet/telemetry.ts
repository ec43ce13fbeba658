/**
 * GPU telemetry and the health it implies. Samples (temperature, power, ECC and XID errors, as
 * NVIDIA's DCGM reports them) flow on the bus and are aggregated, not recorded as events; what
 * is recorded is a GPU crossing a threshold (ResourceHealthChanged):
 *
 * - failed: an XID error (e.g. 79, the GPU fell off the bus; 48, a double-bit ECC error), or a
 *   temperature at or above 95 °C (past the H100's and A100's slowdown point);
 * - degraded: uncorrectable-free but erring memory (ECC errors in the sample), or 85 °C and up
 *   (thermal throttling);
 * - healthy otherwise.
 *
 * A GPU gets worse at once, and better only after three clean samples in a row at the better
 * level (a repair, or a fault that has really passed, not one good reading).
 */
import { z } from 'zod';
import type { GpuHealth } from './gpus.ts';

export const HEALTH_THRESHOLDS = { failedTemperatureC: 95, degradedTemperatureC: 85, recoverAfterSamples: 3 } as const;

export const gpuSampleSchema = z.strictObject({
  gpuId: z.string().min(1).max(128),
  temperatureC: z.number().min(-40).max(200),
  powerW: z.number().min(0).max(5000),
  eccErrors: z.number().int().min(0).max(1_000_000),
  xidErrors: z.number().int().min(0).max(1_000_000),
});
export type GpuSample = z.infer<typeof gpuSampleSchema>;

/** One pool's samples at one moment: the bus message (keyed by the pool, so a pool's samples stay in order). */
export const telemetryBatchSchema = z.strictObject({
  kind: z.literal('gpu-telemetry'),
  resourceId: z.string().min(1).max(128),
  at: z.iso.datetime({ offset: false }),
  samples: z.array(gpuSampleSchema).max(20_000),
});
export type TelemetryBatch = z.infer<typeof telemetryBatchSchema>;

const RANK: Record<GpuHealth, number> = { healthy: 0, degraded: 1, failed: 2 };

/** What one sample says, and why. */
export const classifySample = (s: GpuSample): { health: GpuHealth; reason: string } => {
  if (s.xidErrors > 0) return { health: 'failed', reason: `${s.xidErrors} XID error(s)` };
  if (s.temperatureC >= HEALTH_THRESHOLDS.failedTemperatureC) return { health: 'failed', reason: `${s.temperatureC.toFixed(0)} °C (≥ ${HEALTH_THRESHOLDS.failedTemperatureC})` };
  if (s.eccErrors > 0) return { health: 'degraded', reason: `${s.eccErrors} ECC error(s)` };
  if (s.temperatureC >= HEALTH_THRESHOLDS.degradedTemperatureC) return { health: 'degraded', reason: `${s.temperatureC.toFixed(0)} °C (≥ ${HEALTH_THRESHOLDS.degradedTemperatureC})` };
  return { health: 'healthy', reason: 'within thresholds' };
};

/** A GPU's health as telemetry tracks it: its level, and how many samples in a row said better. */
export type HealthTrack = { health: GpuHealth; better: number };

/** The next track after a sample, and the change of health it makes, if any. */
export const trackHealth = (track: HealthTrack, sample: GpuSample): { track: HealthTrack; change?: { health: GpuHealth; reason: string } } => {
  const seen = classifySample(sample);
  if (RANK[seen.health] > RANK[track.health]) return { track: { health: seen.health, better: 0 }, change: seen };
  if (RANK[seen.health] === RANK[track.health]) return { track: { ...track, better: 0 } };
  const better = track.better + 1;
  if (better < HEALTH_THRESHOLDS.recoverAfterSamples) return { track: { ...track, better } };
  return { track: { health: seen.health, better: 0 }, change: { health: seen.health, reason: `${HEALTH_THRESHOLDS.recoverAfterSamples} clean samples in a row: ${seen.reason}` } };
};
