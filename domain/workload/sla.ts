/**
 * SLA feasibility at submission: a P1 request whose latency target the requested
 * GPU type cannot meet is rejected with the reason, not accepted and breached
 * (docs/design.md §3, invariant 3).
 *
 * The floor is time to first token on a warm replica: a fixed overhead plus a
 * per-billion-parameter term by GPU type. These are planning coefficients of the
 * platform (relative speeds follow the GPUs' memory bandwidth: H100 SXM 3.35 TB/s,
 * A100 2.0 TB/s, L40S 0.86 TB/s, from NVIDIA's datasheets), not measurements.
 */
import type { Classification } from './classify.ts';
import { modelSizeBillions, type GpuType, type WorkloadRequest } from './request.ts';

const LATENCY_FLOOR: Record<GpuType, { baseMs: number; msPerBillion: number }> = {
  H100: { baseMs: 15, msPerBillion: 0.25 },
  A100: { baseMs: 22, msPerBillion: 0.42 },
  L40S: { baseMs: 30, msPerBillion: 0.98 },
};

/** Assumed size when the model's name does not say: a 13B model. */
export const DEFAULT_MODEL_BILLIONS = 13;

export const latencyFloorMs = (gpuType: GpuType, model: string): number => {
  const { baseMs, msPerBillion } = LATENCY_FLOOR[gpuType];
  return Math.ceil(baseMs + msPerBillion * (modelSizeBillions(model) ?? DEFAULT_MODEL_BILLIONS));
};

/** A reason the SLA cannot be met, or undefined when it can. */
export const slaInfeasibility = (request: WorkloadRequest, classification: Classification): string | undefined => {
  if (request.type === 'ai_inference_realtime' && request.maxLatencyMs === undefined)
    return 'real-time inference needs maxLatencyMs (max_latency_ms)';
  if (classification.priority !== 'P1' || request.maxLatencyMs === undefined) return undefined;
  const floor = latencyFloorMs(request.gpuType, request.model);
  return request.maxLatencyMs < floor
    ? `a ${request.maxLatencyMs} ms latency target cannot be met for ${request.model} on ${request.gpuType}: its floor is ${floor} ms`
    : undefined;
};
