import { describe, expect, it } from 'vitest';
import { classify } from './classify.ts';
import type { WorkloadRequest } from './request.ts';
import { modelSizeBillions } from './request.ts';
import { latencyFloorMs, slaInfeasibility } from './sla.ts';
import { listPriceOf } from './pricing.ts';

const seedBody: WorkloadRequest = {
  type: 'ai_inference_realtime',
  model: 'llama-3-70b',
  gpuType: 'H100',
  gpuCount: 1,
  maxLatencyMs: 50,
  durationSeconds: 7200,
};

describe('classification and SLA feasibility', () => {
  it("classifies the seed's request as P1 and finds it feasible on an H100", () => {
    const c = classify(seedBody, 'standard');
    expect(c.priority).toBe('P1');
    expect(slaInfeasibility(seedBody, c)).toBeUndefined();
  });

  it('rejects a P1 target the GPU type cannot meet, and says why', () => {
    const onL40s = { ...seedBody, gpuType: 'L40S' as const };
    expect(slaInfeasibility(onL40s, classify(onL40s, 'standard'))).toMatch(/cannot be met for llama-3-70b on L40S: its floor is \d+ ms/);
  });

  it('uses latency, tier, size and duration', () => {
    expect(classify({ ...seedBody, maxLatencyMs: 200 }, 'standard').priority).toBe('P2');
    expect(classify({ ...seedBody, maxLatencyMs: 200 }, 'enterprise').priority).toBe('P1');
    expect(classify({ ...seedBody, type: 'ai_inference_batch' }, 'standard').priority).toBe('P2');
    expect(classify({ ...seedBody, type: 'ai_inference_batch', gpuCount: 64, durationSeconds: 48 * 3600 }, 'standard').priority).toBe('P3');
    expect(classify({ ...seedBody, type: 'model_training' }, 'standard').priority).toBe('P3');
    expect(classify({ ...seedBody, type: 'model_training', durationSeconds: 1800 }, 'enterprise').priority).toBe('P2');
  });

  it('reads model sizes from names and orders GPU floors by memory bandwidth', () => {
    expect(modelSizeBillions('llama-3-70b')).toBe(70);
    expect(modelSizeBillions('mistral-7b-instruct')).toBe(7);
    expect(modelSizeBillions('Qwen2.5-0.5B')).toBe(0.5);
    expect(modelSizeBillions('custom')).toBeUndefined();
    expect(latencyFloorMs('H100', 'x-70b')).toBeLessThan(latencyFloorMs('A100', 'x-70b'));
    expect(latencyFloorMs('A100', 'x-70b')).toBeLessThan(latencyFloorMs('L40S', 'x-70b'));
  });

  it('prices GPU time in whole micro-USD, rounding up', () => {
    expect(listPriceOf('H100', 7200)).toBe(7_000_000);
    expect(listPriceOf('A100', 1)).toBe(528); // 1.9 USD / 3600 s = 527.8 micro-USD
  });
});
