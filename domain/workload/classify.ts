/**
 * Classification into priorities P1–P3 (P4 is the platform's own mining), from the
 * workload's type, latency target, size, duration and the customer's tier. Rule
 * based, so every decision carries the rule that made it (docs/design.md §3).
 */
import type { CustomerTier, Priority, WorkloadRequest } from './request.ts';

export type Classification = { priority: Priority; reason: string };

/** The seed's P1 target: real-time inference under 50 ms. */
export const P1_LATENCY_MS = 50;
/** Enterprise customers' interactive traffic up to this target is served as P1 too. */
export const ENTERPRISE_P1_LATENCY_MS = 250;
/** Batch work this long, at this size, is scheduled like training. */
export const LONG_BATCH_SECONDS = 24 * 3600;
export const TRAINING_SCALE_GPUS = 32;

export const classify = (request: WorkloadRequest, tier: CustomerTier): Classification => {
  const hours = request.durationSeconds / 3600;
  switch (request.type) {
    case 'ai_inference_realtime': {
      const latency = request.maxLatencyMs ?? P1_LATENCY_MS;
      if (latency <= P1_LATENCY_MS)
        return { priority: 'P1', reason: `real-time inference with a ${latency} ms latency target (P1 is ≤ ${P1_LATENCY_MS} ms)` };
      if (tier === 'enterprise' && latency <= ENTERPRISE_P1_LATENCY_MS)
        return { priority: 'P1', reason: `enterprise real-time inference with a ${latency} ms target (≤ ${ENTERPRISE_P1_LATENCY_MS} ms)` };
      return { priority: 'P2', reason: `inference with a ${latency} ms latency target is served as batch (P1 is ≤ ${P1_LATENCY_MS} ms)` };
    }
    case 'ai_inference_batch':
      if (request.durationSeconds > LONG_BATCH_SECONDS && request.gpuCount >= TRAINING_SCALE_GPUS)
        return { priority: 'P3', reason: `batch inference on ${request.gpuCount} GPUs for ${hours} h is training-scale (> 24 h on ≥ ${TRAINING_SCALE_GPUS} GPUs)` };
      return { priority: 'P2', reason: 'batch inference' };
    case 'model_training':
      if (tier === 'enterprise' && request.durationSeconds <= 3600 && request.gpuCount <= 8)
        return { priority: 'P2', reason: 'short enterprise training run (≤ 1 h on ≤ 8 GPUs) is scheduled as batch' };
      return { priority: 'P3', reason: 'model training' };
  }
};
