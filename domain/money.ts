/**
 * Money is integer micro-USD (1 USD = 1,000,000); GPU time is integer GPU-seconds.
 * Both stay far below 2^53 under the input bounds (see workload/request.ts).
 */
export const MICRO_USD_PER_USD = 1_000_000;
export const SECONDS_PER_HOUR = 3600;

/** Exact decimal USD string ("12.5", "0.000001") to micro-USD; undefined when not exact or out of range. */
export const parseUsd = (text: string): number | undefined => {
  const m = /^(\d{1,12})(?:\.(\d{1,6}))?$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * MICRO_USD_PER_USD + Number((m[2] ?? '').padEnd(6, '0'));
};

export const formatUsd = (microUsd: number): string => {
  const sign = microUsd < 0 ? '-' : '';
  const abs = Math.abs(microUsd);
  const whole = Math.floor(abs / MICRO_USD_PER_USD);
  const frac = (abs % MICRO_USD_PER_USD).toString().padStart(6, '0').replace(/0{1,4}$/, '');
  return `${sign}${whole}.${frac.length < 2 ? frac.padEnd(2, '0') : frac}`;
};

/** USD rounded to whole dollars with thousands separators, for people ("-$1,234"): a controller's reasons. */
export const formatWholeUsd = (usd: number): string => {
  const r = Math.round(usd);
  return `${r < 0 ? '-' : ''}$${String(Math.abs(r)).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}`;
};

/** Price of GPU time, rounded up to the next micro-USD: rate per GPU-hour × GPU-seconds / 3600. */
export const priceOfGpuSeconds = (microUsdPerGpuHour: number, gpuSeconds: number): number => {
  const exact = BigInt(microUsdPerGpuHour) * BigInt(gpuSeconds);
  const hour = BigInt(SECONDS_PER_HOUR);
  return Number((exact + hour - 1n) / hour);
};
