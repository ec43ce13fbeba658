/** What a customer asks for when submitting a workload, and its bounds. */
import { z } from 'zod';

export const WORKLOAD_TYPES = ['ai_inference_realtime', 'ai_inference_batch', 'model_training'] as const;
export type WorkloadType = (typeof WORKLOAD_TYPES)[number];

export const GPU_TYPES = ['H100', 'A100', 'L40S'] as const;
export type GpuType = (typeof GPU_TYPES)[number];

export const PRIORITIES = ['P1', 'P2', 'P3', 'P4'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const CUSTOMER_TIERS = ['standard', 'premium', 'enterprise'] as const;
export type CustomerTier = (typeof CUSTOMER_TIERS)[number];

/** Longest single workload: 30 days. Largest: 512 GPUs (the largest pool in the seed inventory). */
export const MAX_DURATION_SECONDS = 30 * 24 * 3600;
export const MAX_GPU_COUNT = 512;

export const workloadRequestSchema = z.strictObject({
  type: z.enum(WORKLOAD_TYPES),
  model: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'letters, digits and . _ : / - only'),
  gpuType: z.enum(GPU_TYPES),
  gpuCount: z.number().int().min(1).max(MAX_GPU_COUNT),
  /** Required for real-time inference; the latency target per request. */
  maxLatencyMs: z.number().int().min(1).max(3_600_000).optional(),
  durationSeconds: z.number().int().min(60).max(MAX_DURATION_SECONDS),
});

export type WorkloadRequest = z.infer<typeof workloadRequestSchema>;

/** Model size in billions of parameters, read from its name ("llama-3-70b" → 70); undefined when the name does not say. */
export const modelSizeBillions = (model: string): number | undefined => {
  const m = /(?:^|[^0-9.])(\d{1,4}(?:\.\d+)?)b(?:$|[^a-z])/i.exec(model);
  return m ? Number(m[1]) : undefined;
};
