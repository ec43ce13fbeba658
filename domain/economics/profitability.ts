/**
 * Profitability of the two uses of a facility's power (docs/design.md §3 "Economics"), pure.
 *
 * Units are in the names: hashrate TH/s, power W or kW, electricity USD/MWh, BTC price
 * USD/BTC, GPU rates USD per GPU-hour. Formulas work in floating point (they multiply
 * quantities of very different magnitudes: difficulty ~1e14, 2^32, hashrate ~1e14 H/s);
 * money leaves this module as integer micro-USD through `toMicroUsd`, rounded half away
 * from zero once, at the boundary — never rounded inside a formula and rounded again.
 *
 * Reference numbers (docs/design.md §7):
 * - expected blocks found by a hashrate h (H/s) in one hour = h × 3600 / (difficulty × 2^32)
 *   (difficulty 1 ⇔ 2^32 expected hashes per block; Bitcoin Core `GetBlockProof`);
 * - block subsidy 6.25 BTC until block 840,000 (2024-04-20), 3.125 BTC since
 *   (Bitcoin Core `chainparams.cpp`, data/btc_block_subsidy_schedule.csv);
 * - FPPS pool fees are 2–4 % (pools' published fee pages, e.g. Foundry USA, AntPool,
 *   ViaBTC FPPS 2–4 %); the default here is 2.5 %;
 * - ASIC curtailment to ~25 W per unit ("sleep") in under 5 s and back in under 10 s
 *   (LuxOS and Braiins OS+ curtailment docs): a sleeping ASIC draws 25 W, not 0;
 * - GPUs: the product briefs give TDP only. A GPU that holds its model in memory but runs
 *   no work (warm standby, or paused batch/training) is assumed to draw 10 % of TDP
 *   (H100 SXM 70 W). That is an assumption of this module, not a sourced figure;
 *   at 70 W and $5,000/MWh it costs $0.35/h per GPU, so it barely moves any decision.
 */
import { ASIC_MODELS, GPU_MODELS, type AsicModel } from '../fleet/inventory.ts';
import { MICRO_USD_PER_USD } from '../money.ts';
import type { GpuType } from '../workload/request.ts';

/** FPPS pool fee used unless told otherwise (FPPS fees are 2–4 %). */
export const DEFAULT_POOL_FEE = 0.025;
/** Draw of a sleeping (curtailed) ASIC, W (LuxOS / Braiins OS+ curtailment: ~25 W). */
export const ASIC_SLEEP_W = 25;
/** Draw of an idle GPU holding a model (warm standby or paused work), as a fraction of TDP: an assumption. */
export const GPU_IDLE_FRACTION_OF_TDP = 0.1;

const TWO_POW_32 = 2 ** 32;
const HOURS_PER_DAY = 24;

/** The Bitcoin network facts that set mining revenue. */
export type NetworkFacts = {
  /** Current difficulty target (dimensionless, ~5e13 in 2023, ~1.1e14 end 2024). */
  difficulty: number;
  /** Block subsidy, BTC per block. */
  subsidyBtc: number;
  /** Average transaction fees per block, BTC. */
  feesPerBlockBtc: number;
};

/** Money at the boundary: USD (float) → integer micro-USD, rounded half away from zero. */
export const toMicroUsd = (usd: number): number => {
  if (!Number.isFinite(usd)) throw new RangeError(`not a finite amount of USD: ${usd}`);
  const micro = usd * MICRO_USD_PER_USD;
  const rounded = Math.sign(micro) * Math.round(Math.abs(micro));
  if (!Number.isSafeInteger(rounded)) throw new RangeError(`amount out of the safe integer range: ${usd} USD`);
  return rounded === 0 ? 0 : rounded; // no -0
};

/** Expected blocks per hour found by `hashrateThs` TH/s: h × 1e12 × 3600 / (difficulty × 2^32). */
export const expectedBlocksPerHour = (hashrateThs: number, difficulty: number): number =>
  (hashrateThs * 1e12 * 3600) / (difficulty * TWO_POW_32);

/** Mining revenue, USD per hour, for `hashrateThs` TH/s after the pool fee (FPPS pays the expected value). */
export const miningRevenueUsdPerHour = (
  hashrateThs: number,
  network: NetworkFacts,
  btcUsd: number,
  poolFee: number = DEFAULT_POOL_FEE,
): number =>
  expectedBlocksPerHour(hashrateThs, network.difficulty) * (network.subsidyBtc + network.feesPerBlockBtc) * btcUsd * (1 - poolFee);

/** Hashprice: USD earned per TH/s per day (Luxor's "hashprice"; about $0.04–0.06 in 2024–2025). */
export const hashpriceUsdPerThDay = (network: NetworkFacts, btcUsd: number, poolFee: number = DEFAULT_POOL_FEE): number =>
  miningRevenueUsdPerHour(1, network, btcUsd, poolFee) * HOURS_PER_DAY;

/** Cost of drawing `kw` kW for one hour at `usdPerMwh` (negative prices make it a credit). */
export const powerCostUsdPerHour = (kw: number, usdPerMwh: number): number => (kw / 1000) * usdPerMwh;

export const asicKw = (model: AsicModel) => ASIC_MODELS[model].powerW / 1000;
export const asicSleepKw = (_model: AsicModel) => ASIC_SLEEP_W / 1000;
export const gpuKw = (gpuType: GpuType) => GPU_MODELS[gpuType].powerW / 1000;
export const gpuIdleKw = (gpuType: GpuType) => (GPU_MODELS[gpuType].powerW * GPU_IDLE_FRACTION_OF_TDP) / 1000;

/** Efficiency, J/TH (lower is better): the order in which ASIC groups shed (worst first) and return (best first). */
export const joulesPerTh = (model: AsicModel) => ASIC_MODELS[model].powerW / ASIC_MODELS[model].hashrateThs;

export type MarketNow = { network: NetworkFacts; btcUsd: number; electricityUsdPerMwh: number; poolFee?: number };

/** One ASIC's profit per hour, USD, mining and sleeping. */
export const asicProfitUsdPerHour = (model: AsicModel, m: MarketNow) => {
  const revenue = miningRevenueUsdPerHour(ASIC_MODELS[model].hashrateThs, m.network, m.btcUsd, m.poolFee ?? DEFAULT_POOL_FEE);
  return {
    revenue,
    mining: revenue - powerCostUsdPerHour(asicKw(model), m.electricityUsdPerMwh),
    sleeping: -powerCostUsdPerHour(asicSleepKw(model), m.electricityUsdPerMwh),
  };
};

/**
 * Mining strike price, USD/MWh: the electricity price above which sleeping beats mining.
 * Mining profit R − P_mine·p equals sleeping profit −P_sleep·p at p* = R / (P_mine − P_sleep).
 * Depends on BTC price, difficulty, subsidy, fees and the pool fee, not on the current electricity price.
 */
export const strikePriceUsdPerMwh = (
  model: AsicModel,
  network: NetworkFacts,
  btcUsd: number,
  poolFee: number = DEFAULT_POOL_FEE,
): number => {
  const revenue = miningRevenueUsdPerHour(ASIC_MODELS[model].hashrateThs, network, btcUsd, poolFee);
  return (revenue / (asicKw(model) - asicSleepKw(model))) * 1000;
};

/** AI revenue per GPU-hour: the rental rate × utilization (the share of the hour that is billed). */
export const aiRevenueUsdPerHour = (rateUsdPerGpuHour: number, utilization: number): number => rateUsdPerGpuHour * utilization;

/** One GPU's profit per hour, USD: serving (full TDP) and idle (model held, 10 % TDP). */
export const gpuProfitUsdPerHour = (gpuType: GpuType, rateUsdPerGpuHour: number, utilization: number, electricityUsdPerMwh: number) => {
  const revenue = aiRevenueUsdPerHour(rateUsdPerGpuHour, utilization);
  return {
    revenue,
    serving: revenue - powerCostUsdPerHour(gpuKw(gpuType), electricityUsdPerMwh),
    idle: -powerCostUsdPerHour(gpuIdleKw(gpuType), electricityUsdPerMwh),
  };
};

/**
 * The electricity price, USD/MWh, above which pausing interruptible GPU work (batch inference,
 * training) beats serving it: rate × u / (P_serve − P_idle). For an H100 at $3.38/h and full
 * utilization that is $5,365/MWh — above ERCOT's 2023 offer cap of $5,000, so only lower rates
 * or utilizations make demand response pay.
 */
export const gpuYieldPriceUsdPerMwh = (gpuType: GpuType, rateUsdPerGpuHour: number, utilization: number): number =>
  (aiRevenueUsdPerHour(rateUsdPerGpuHour, utilization) / (gpuKw(gpuType) - gpuIdleKw(gpuType))) * 1000;
