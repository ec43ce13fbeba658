/**
 * The platform's list price per GPU-hour, charged to customers, in micro-USD.
 * Set within the 2024 market range in simulators/market/data/gpu_rental_price_monthly.csv and
 * gpu_rental_price_points_2024.csv (H100 $2.93–4.84, A100 $1.70–2.35, L40S $0.9–2.3).
 */
import { priceOfGpuSeconds } from '../money.ts';
import type { GpuType } from './request.ts';

export const LIST_PRICE_MICRO_USD_PER_GPU_HOUR: Record<GpuType, number> = {
  H100: 3_500_000,
  A100: 1_900_000,
  L40S: 1_200_000,
};

export const gpuSecondsOf = (gpuCount: number, durationSeconds: number) => gpuCount * durationSeconds;

export const listPriceOf = (gpuType: GpuType, gpuSeconds: number) =>
  priceOfGpuSeconds(LIST_PRICE_MICRO_USD_PER_GPU_HOUR[gpuType], gpuSeconds);
