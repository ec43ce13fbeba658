/**
 * The demand simulator: customers submitting workloads, seeded and on any time scale, so the
 * platform can be run for a day at the seed's scale (and beyond) and give the same result for
 * the same seed.
 *
 * Arrivals are a Poisson process on a diurnal shape (busiest mid-afternoon, quietest before
 * dawn, twice as busy at the peak as on average), plus bursts (one customer sending a batch of
 * jobs within minutes, a few times a day). Each arrival picks a customer (a few heavy ones, a
 * long tail), then a kind of work, with the mix sized so the seed's 1,152 GPUs run at about
 * 60 % on average:
 * - real-time inference (P1, about a third): one GPU mostly (two or four sometimes), for 15 min
 *   to a few hours, on a model and GPU whose latency floor leaves room in its 50 ms target;
 * - batch inference (P2, most): one to eight GPUs, minutes to hours;
 * - training (P3, a few percent): gangs of 8 to 32 GPUs for hours.
 */
import type { CustomerTier, GpuType, WorkloadRequest } from '../../domain/workload/request.ts';
import { latencyFloorMs } from '../../domain/workload/sla.ts';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../../domain/time.ts';
import { createRng, type Rng } from '../random.ts';

export type DemandCustomer = { customerId: string; name: string; tier: CustomerTier; weight: number };
export type Arrival = { n: number; atMs: number; customerId: string; request: WorkloadRequest; burst: boolean };

export type DemandConfig = {
  seed: string;
  startMs: number;
  endMs: number;
  /** Mean arrivals per day (the seed's scale: 10,000). */
  perDay: number;
  customers: readonly DemandCustomer[];
  /** Bursts per day, and arrivals in each. */
  burstsPerDay?: number;
  burstSize?: number;
  /** GPU types to ask for, by share (default: the seed's fleet: H100 2/3, A100 2/9, L40S 1/9). */
  gpuShares?: Partial<Record<GpuType, number>>;
};

/** Customers for a simulation: `count` of them, a few heavy, the rest a long tail; one in ten enterprise, two in ten premium. */
export const demandCustomers = (count: number, prefix = 'sim'): DemandCustomer[] =>
  Array.from({ length: count }, (_, i) => ({
    customerId: `${prefix}-c${String(i + 1).padStart(3, '0')}`,
    name: `Simulated customer ${i + 1}`,
    tier: i % 10 === 0 ? 'enterprise' : i % 5 === 1 ? 'premium' : 'standard',
    weight: 1 / (i + 1) ** 0.8,
  }));

/** The diurnal shape: relative arrival rate at a time of day, averaging 1 over the day (peak about 15:00 UTC). */
export const diurnal = (ms: number) => 1 + 0.5 * Math.sin((2 * Math.PI * ((ms % DAY_MS) / HOUR_MS - 9)) / 24);

const pick = <T>(rng: Rng, items: ReadonlyArray<readonly [T, number]>): T => {
  const total = items.reduce((s, [, w]) => s + w, 0);
  let x = rng.next() * total;
  for (const [item, w] of items) if ((x -= w) < 0) return item;
  return items.at(-1)![0];
};

const minutes = (rng: Rng, medianMinutes: number, spread: number, min: number, max: number) =>
  Math.round(Math.min(max, Math.max(min, medianMinutes * Math.exp(spread * rng.normal()))) * 60);

const P1_MODELS: Record<GpuType, ReadonlyArray<readonly [string, number]>> = {
  H100: [['llama-3-70b', 3], ['llama-3-8b', 2], ['mistral-7b', 1]],
  A100: [['llama-3-8b', 2], ['mistral-7b', 1]],
  L40S: [['llama-3-8b', 2], ['mistral-7b', 1]],
};
const BATCH_MODELS: ReadonlyArray<readonly [string, number]> = [['llama-3-70b', 2], ['llama-3-8b', 3], ['mistral-7b', 2], ['mixtral-8x7b', 1], ['qwen-2.5-32b', 1]];
const TRAINING_MODELS: ReadonlyArray<readonly [string, number]> = [['llama-3-8b', 3], ['mistral-7b', 2], ['qwen-2.5-32b', 1]];

/** One workload request of a customer of `tier`. */
export const drawRequest = (rng: Rng, tier: CustomerTier, gpuShares: Record<GpuType, number>): WorkloadRequest => {
  const gpuType = pick(rng, Object.entries(gpuShares) as Array<[GpuType, number]>);
  const kind = pick(rng, [['p1', 35], ['p2', 60], ['p3', 5]] as const);
  if (kind === 'p1') {
    const model = pick(rng, P1_MODELS[gpuType]);
    // a target with room above the GPU's floor (P1 is ≤ 50 ms; enterprise customers may ask up to 250 ms)
    const floor = latencyFloorMs(gpuType, model);
    const maxLatencyMs = Math.min(tier === 'enterprise' ? 250 : 50, Math.max(floor + 10, Math.round(floor * 1.6)));
    return {
      type: 'ai_inference_realtime',
      model,
      gpuType,
      gpuCount: pick(rng, [[1, 80], [2, 15], [4, 5]] as const),
      maxLatencyMs: Math.max(maxLatencyMs, floor),
      durationSeconds: minutes(rng, 30, 0.7, 15, 240),
    };
  }
  if (kind === 'p2')
    return { type: 'ai_inference_batch', model: pick(rng, BATCH_MODELS), gpuType, gpuCount: pick(rng, [[1, 50], [2, 25], [4, 15], [8, 10]] as const), durationSeconds: minutes(rng, 35, 0.8, 5, 360) };
  return { type: 'model_training', model: pick(rng, TRAINING_MODELS), gpuType, gpuCount: pick(rng, [[8, 60], [16, 30], [32, 10]] as const), durationSeconds: minutes(rng, 70, 0.6, 30, 720) };
};

/** Every arrival in [startMs, endMs), in time order; the same config gives the same arrivals. */
export const arrivals = (config: DemandConfig): Arrival[] => {
  const rng = createRng(`demand/${config.seed}`);
  const gpuShares: Record<GpuType, number> = { H100: 6, A100: 2, L40S: 1, ...config.gpuShares };
  const customers = config.customers.map((c) => [c, c.weight] as const);
  const out: Array<Omit<Arrival, 'n'>> = [];
  const peak = 1.5 * config.perDay; // per day at the diurnal peak
  // thinning: candidates at the peak rate, each kept with the shape's share
  for (let t = config.startMs; ; ) {
    t += (rng.exponential(peak) * DAY_MS);
    if (t >= config.endMs) break;
    if (rng.next() * 1.5 > diurnal(t)) continue;
    const customer = pick(rng, customers);
    out.push({ atMs: Math.floor(t), customerId: customer.customerId, request: drawRequest(rng, customer.tier, gpuShares), burst: false });
  }
  const bursts = createRng(`demand/${config.seed}/bursts`);
  const days = (config.endMs - config.startMs) / DAY_MS;
  const count = Math.round((config.burstsPerDay ?? 3) * days);
  for (let b = 0; b < count; b++) {
    const at = config.startMs + Math.floor(bursts.next() * (config.endMs - config.startMs));
    const customer = pick(bursts, customers);
    for (let i = 0; i < (config.burstSize ?? 20); i++) {
      const t = at + Math.floor(bursts.next() * 5 * MINUTE_MS);
      if (t < config.endMs) out.push({ atMs: t, customerId: customer.customerId, request: drawRequest(bursts, customer.tier, gpuShares), burst: true });
    }
  }
  return out.sort((a, b) => a.atMs - b.atMs).map((a, n) => ({ ...a, n: n + 1 }));
};
