/**
 * The economic controller, live: follows market events, and at each 15-minute
 * interval of market time decides every facility's allocation with the pure
 * controller (domain/economics/controller.ts). It records a RecommendationIssued
 * when the decision changes or at least hourly (not per tick), carrying all its
 * inputs so an auditor can recompute it, and asks the switch executor to move the
 * ASIC blocks whose mode changed. GPU tiers pausing for demand response are
 * recorded in the recommendation; the scheduler pauses and requeues the workloads (P2/P3, never P1).
 * It decides on what the backtest decides on, so that a replay through this pipeline makes the
 * backtest's decisions (a test holds them equal over a real week): an interval is decided when
 * the first real-time price of the facility's node stamped in it arrives, before that price is
 * learned — a replayed 15-minute price is the interval's average, known only once it is over —
 * with the latest settled price, the hour's BTC close and the day's network stats (stamped at the
 * same instant, they arrive first: simulators/market/source.ts FEED_ORDER), the day-ahead prices
 * published by then (`market-<node>-da`), the learned forecaster (domain/economics/forecast.ts)
 * fed every settled price with the day-ahead price of its hour, and the adaptation's record
 * (adaptation.ts). The forecaster's history is read back from the node's streams (a year, as the
 * backtest's warm-up) when the process starts.
 * ASIC blocks a power handover holds (their power went to GPUs) or is moving are pinned:
 * the decision counts them in their mode and never switches them.
 *
 * Ids derive from the facility and the interval, so a replay or redelivery
 * records and requests nothing twice. Each interval goes record, then request, then advance:
 * the controller's memory moves on only once the recommendation is stored and its switches
 * requested, so a failure anywhere before (an append that fails, a switch request that
 * throws) leaves the interval to be decided again when the event comes again; and a process
 * that starts reads its last recorded recommendation back and requests its switches again
 * (their ids make that a no-op when they were requested), so a death between the two
 * cannot leave the blocks mining through the spike it decided on.
 */
import type { Logger } from 'pino';
import { adaptiveDecide, initialAdaptation, type AdaptationRecord } from '../../domain/economics/adaptation.ts';
import {
  DEFAULT_CONTROLLER_CONFIG,
  initialControllerState,
  type ControllerState,
  type Recommendation,
} from '../../domain/economics/controller.ts';
import { dayAheadIntervals } from '../../domain/economics/policy.ts';
import { DEFAULT_LEARNED_CONFIG, dayAheadWindow, initialLearnedForecaster, learnedForecast, observeSettled, settledAt, type LearnedForecasterState } from '../../domain/economics/forecast.ts';
import type { Mode } from '../../domain/economics/plan.ts';
import type { FacilitySpec } from '../../domain/fleet/inventory.ts';
import { resourceDecider, resourceStream } from '../../domain/resource/resource.ts';
import { dayAheadFeed, gpuFeed, MARKET_NODES, powerFeed, SATS_PER_BTC, type DayAheadSchedule, type MarketNode, type NetworkStats, type PriceTick } from '../../domain/market/ticks.ts';
import { HOUR_MS, iso } from '../../domain/time.ts';
import { uuidFromName } from '../../infra/ids.ts';
import type { RecordedEvent } from '../../infra/event-store/types.ts';
import type { CommandDeps } from '../context.ts';
import { CommandRejectedError } from '../errors.ts';
import { requestSwitch, resourcesOf } from '../fleet.ts';
import { loadState } from '../handle.ts';
import type { ProcessManager } from './runner.ts';
import { loadPriceList } from '../price-list.ts';
import { rateAt } from '../../domain/billing/price-list.ts';
import { GPU_TYPES, type GpuType } from '../../domain/workload/request.ts';

export const economicsStream = (facilityId: string) => `economics-${facilityId}`;

export type RecommendationIssued = {
  type: 'RecommendationIssued';
  /** `adaptationAfter`: the controller's record of its policies after this interval, so a restart goes on with it (absent before the record existed). */
  data: Recommendation & { stateAfter: ControllerState; intervalStart: string; adaptationAfter?: AdaptationRecord };
};

/** The controller's recommendation inside a RecommendationIssued event (without the bookkeeping beside it), e.g. to recompute it. */
export const recommendationOf = ({ stateAfter: _state, intervalStart: _at, adaptationAfter: _record, ...recommendation }: RecommendationIssued['data']): Recommendation =>
  recommendation;

/** Assumptions the live controller shares with the backtest (simulators/backtest/README.md). */
export const LIVE_ASSUMPTIONS = { gpuUtilization: 0.7, gpuDemandShares: { P1: 0.4, P2: 0.3, P3: 0.3 } } as const;

const INTERVAL_MS = DEFAULT_CONTROLLER_CONFIG.intervalMs;
/** Unchanged decisions are recorded at this cadence (market time), changed ones always. */
export const STEADY_CADENCE_MS = 3_600_000;
/** What a starting controller learns from: the node's prices of the year before (the backtest's warm-up; about 35,000 intervals), at most 200,000 ticks read. */
export const WARM_UP_MS = 365 * 86_400_000;
export const WARM_UP_MAX_TICKS = 200_000;

type Market = {
  btcUsd?: number;
  network?: { difficulty: number; subsidyBtc: number; feesPerBlockBtc: number };
  power: Record<string, number>;
  gpu: Partial<Record<'H100' | 'A100' | 'L40S', number>>;
};

/** ASIC block `asic:<model>:<n>` of the controller is resource `<facility>-<model>-<n+1>`. */
const asicResourceIds = (facility: FacilitySpec) => {
  const ids = new Map<string, string>();
  const counters = new Map<string, number>();
  for (const r of resourcesOf(facility).filter((r) => r.kind === 'asic_group')) {
    const n = counters.get(r.model) ?? 0;
    counters.set(r.model, n + 1);
    ids.set(`asic:${r.model}:${n}`, r.resourceId);
  }
  return ids;
};

export const economicController = (deps: CommandDeps, facilities: readonly FacilitySpec[], logger: Logger): ProcessManager => {
  const log = logger.child({ processManager: 'economic-controller' });
  const market: Market = { power: {}, gpu: {} };
  const memory = new Map<string, { state: ControllerState; adaptation: AdaptationRecord; decidedInterval: number; recordedAtMs: number }>();
  const blocksToResources = new Map(facilities.map((f) => [f.facilityId, asicResourceIds(f)]));
  const forecasters = new Map<string, LearnedForecasterState>();
  /** Day-ahead prices by node and hour start, USD/MWh, as published (the last WARM_UP_MS of them). */
  const dayAheadBooks = new Map<MarketNode, Map<number, number>>();
  const bookOf = (node: MarketNode) => {
    let book = dayAheadBooks.get(node);
    if (!book) dayAheadBooks.set(node, (book = new Map()));
    return book;
  };
  const enterSchedule = (s: DayAheadSchedule) => {
    const book = bookOf(s.node);
    const from = Date.parse(s.fromHour);
    s.hourlyMicroUsdPerMwh.forEach((v, h) => {
      if (v !== null) book.set(from + h * HOUR_MS, v / 1_000_000);
    });
    for (const hour of book.keys()) if (hour < from - WARM_UP_MS) book.delete(hour);
  };

  /** Teach the node's forecaster a settled price with its hour's day-ahead price, once per interval, in time order (a redelivery or an older tick teaches nothing). */
  const learn = (fc: LearnedForecasterState, node: MarketNode, atMs: number, usd: number) => {
    const slot = Math.floor(atMs / INTERVAL_MS);
    if (fc.prices.length > 0 && slot <= fc.firstSlot + fc.prices.length - 1) return fc;
    const dayAhead = bookOf(node).get(Math.floor(atMs / HOUR_MS) * HOUR_MS) ?? null;
    return observeSettled(fc, { startMs: slot * INTERVAL_MS, priceUsdPerMwh: usd, dayAheadUsdPerMwh: dayAhead });
  };

  /** A stream's events newest first, back to `sinceMs` (by the `at` of their data), at most `max` read. */
  const readBack = async <T extends { at: string }>(stream: string, sinceMs: number, max: number): Promise<T[]> => {
    const out: T[] = [];
    let from: bigint | undefined;
    for (let read = 0; read < max; ) {
      const page = await deps.store.readStream(stream, { direction: 'backwards', maxCount: Math.min(5000, max - read), ...(from !== undefined ? { fromRevision: from } : {}) });
      read += page.length;
      out.push(...page.map((e) => e.data as T));
      const oldest = page.at(-1);
      // ticks arrive roughly in time order: a page that ends before the window is the last one needed
      if (!oldest || oldest.revision === 0n || Date.parse((oldest.data as T).at) < sinceMs) break;
      from = oldest.revision - 1n;
    }
    return out;
  };

  /**
   * The node's forecaster; the first time, it learns the node's prices of the WARM_UP_MS before
   * `beforeMs` back from the store (at most WARM_UP_MAX_TICKS read), with the day-ahead
   * schedules published over the same span.
   */
  const forecasterOf = async (node: MarketNode, beforeMs: number) => {
    const feed = powerFeed(node);
    const known = forecasters.get(feed);
    if (known) return known;
    for (const s of (await readBack<DayAheadSchedule>(`market-${dayAheadFeed(node)}`, beforeMs - WARM_UP_MS, 1000)).reverse())
      if (Date.parse(s.at) < beforeMs) enterSchedule(s);
    let fc = initialLearnedForecaster({ ...DEFAULT_LEARNED_CONFIG, intervalMs: INTERVAL_MS, horizon: DEFAULT_CONTROLLER_CONFIG.horizonIntervals });
    const recent = (await readBack<PriceTick>(`market-${feed}`, beforeMs - WARM_UP_MS, WARM_UP_MAX_TICKS))
      .map((tick) => ({ at: Date.parse(tick.at), usd: tick.priceMicroUsd / 1_000_000 }))
      .filter(({ at }) => at < beforeMs && at >= beforeMs - WARM_UP_MS)
      .sort((a, b) => a.at - b.at);
    for (const { at, usd } of recent) fc = learn(fc, node, at, usd);
    // a process that starts mid-stream knows the latest price before the interval from the store
    if (recent.length > 0) market.power[feed] ??= recent.at(-1)!.usd;
    forecasters.set(feed, fc);
    return fc;
  };

  /**
   * What a GPU-hour earns where the market says nothing yet (the replayed GPU rental series
   * start in 2024): the platform's own price list, its real-time (P1) rate in force, USD.
   */
  const listRatesAt = async (atMs: number) => {
    const list = await loadPriceList(deps);
    const out: Partial<Record<GpuType, number>> = {};
    for (const g of GPU_TYPES) {
      const r = rateAt(list, g, 'P1', atMs);
      if (r) out[g] = r.rate / 1_000_000;
    }
    return out;
  };

  /** The last recorded decision of a facility, so a restart goes on from it. */
  const remember = async (facility: FacilitySpec, correlationId: string) => {
    const known = memory.get(facility.facilityId);
    if (known) return known;
    const [last] = await deps.store.readStream(economicsStream(facility.facilityId), { direction: 'backwards', maxCount: 1 });
    const data = last?.data as RecommendationIssued['data'] | undefined;
    const at = data ? Date.parse(data.intervalStart) : -Infinity;
    if (data) {
      // what was in force then, until newer ticks arrive (network stats tick once a day)
      const o = data.inputs.observation;
      market.btcUsd ??= o.btcUsd;
      market.network ??= o.network;
      market.gpu = { ...o.gpuUsdPerHour, ...market.gpu };
      // the process may have died between recording it and requesting its switches
      await requestSwitches(facility, data, last!.metadata.commandId, correlationId);
    }
    // the record goes on from the last recorded decision: the unrecorded steady intervals since (at most an hour) are not scored
    const entry = data
      ? { state: data.stateAfter, adaptation: data.adaptationAfter ?? initialAdaptation(facility, 0), decidedInterval: at, recordedAtMs: at }
      : { state: initialControllerState(facility, 0), adaptation: initialAdaptation(facility, 0), decidedInterval: -Infinity, recordedAtMs: -Infinity };
    memory.set(facility.facilityId, entry);
    return entry;
  };

  /** Blocks held or being moved by a power handover, in the mode it holds them in. */
  const pinnedOf = async (facility: FacilitySpec) => {
    const pinned: Record<string, Mode> = {};
    for (const [blockId, resourceId] of blocksToResources.get(facility.facilityId)!) {
      const s = await loadState(deps.store, resourceDecider, resourceStream(resourceId));
      if (s.status !== 'registered') continue;
      if (s.inFlight?.handoverId) pinned[blockId] = s.inFlight.to === 'mining' ? 1 : 0;
      else if (s.heldByHandover) pinned[blockId] = s.mode === 'mining' ? 1 : 0;
    }
    return pinned;
  };

  /** Asks the switch executor to move the blocks a recorded recommendation changed (idempotent: ids from the recommendation's). */
  const requestSwitches = async (facility: FacilitySpec, recommendation: RecommendationIssued['data'], commandId: string, correlationId: string) => {
    const resources = blocksToResources.get(facility.facilityId)!;
    for (const blockId of recommendation.switched) {
      const resourceId = resources.get(blockId);
      if (!resourceId) continue; // GPU tiers: demand response is recorded, not switched
      const active = recommendation.allocation.blocks[blockId] === 1;
      await requestSwitch(
        deps,
        { commandId: `${commandId}:${resourceId}`, correlationId, actor: 'process-manager:economic-controller' },
        { resourceId, to: active ? 'mining' : 'sleeping', reason: recommendation.reason.slice(0, 200), switchId: `sw-${uuidFromName(`${commandId}:${resourceId}`).slice(0, 18)}` },
      ).catch((error) => {
        // a switch in flight or a mode already reached: the next interval decides again
        if (!(error instanceof CommandRejectedError)) throw error;
        log.info({ resourceId, reason: error.message }, 'switch not requested');
      });
    }
  };

  /** Decides the interval starting at `intervalStart` on what was settled before it (the caller has not yet learned the interval's own price). */
  const decideFacility = async (facility: FacilitySpec, intervalStart: number, correlationId: string) => {
    const entry = await remember(facility, correlationId);
    if (intervalStart <= entry.decidedInterval) return;
    const node = facility.marketNode;
    const fc = await forecasterOf(node, intervalStart);
    const electricity = market.power[powerFeed(node)];
    if (market.btcUsd === undefined || !market.network || electricity === undefined) return;
    const dayAhead = dayAheadWindow((h) => bookOf(node).get(h), intervalStart, dayAheadIntervals(DEFAULT_CONTROLLER_CONFIG.horizonIntervals), INTERVAL_MS);
    const forecast = fc.observed > 0 ? learnedForecast(fc, { atMs: intervalStart, dayAhead }) : undefined;
    // the interval decided last, now settled, is scored for the adaptation's record
    const settledPrice = settledAt(fc, entry.decidedInterval);
    const { recommendation, state, record: adaptation } = adaptiveDecide({
      facility,
      state: entry.state,
      record: entry.adaptation,
      ...(settledPrice !== undefined ? { settled: { startMs: entry.decidedInterval, usdPerMwh: settledPrice } } : {}),
      pinned: await pinnedOf(facility),
      ...(forecast ? { forecast } : {}),
      observation: {
        atMs: intervalStart,
        btcUsd: market.btcUsd,
        network: market.network,
        electricityUsdPerMwh: electricity,
        dayAhead,
        gpuUsdPerHour: { ...(await listRatesAt(intervalStart)), ...market.gpu },
        ...LIVE_ASSUMPTIONS,
      },
    });
    const record = recommendation.changed || intervalStart - entry.recordedAtMs >= STEADY_CADENCE_MS;
    if (record) {
      // 1. record: the event id derives from the interval, so deciding it again appends nothing
      const intervalIso = iso(intervalStart);
      const commandId = `recommend:${facility.facilityId}:${intervalIso}`;
      const stream = economicsStream(facility.facilityId);
      const issued = { ...recommendation, stateAfter: state, adaptationAfter: adaptation, intervalStart: intervalIso };
      const { appended } = await deps.store.appendToStream(
        stream,
        [
          {
            id: uuidFromName(commandId),
            type: 'RecommendationIssued',
            data: issued as unknown as Record<string, unknown>,
            metadata: { commandId, correlationId, causationId: correlationId, actor: 'process-manager:economic-controller', schemaVersion: 1, occurredAt: intervalIso },
          },
        ],
        { expectedRevision: 'any' },
      );
      // 2. request what was recorded (a decision made again may differ from the one stored first)
      const stored = appended ? undefined : (await deps.store.readStream(stream, { direction: 'backwards', maxCount: 16 })).find((e) => e.metadata.commandId === commandId);
      const recorded = (stored?.data as RecommendationIssued['data'] | undefined) ?? issued;
      await requestSwitches(facility, recorded, commandId, correlationId);
    }
    // 3. advance, once the interval's decision is stored and acted on
    entry.decidedInterval = intervalStart;
    entry.state = state;
    entry.adaptation = adaptation;
    if (record) entry.recordedAtMs = intervalStart;
  };

  return {
    name: 'economic-controller',
    async react(event: RecordedEvent) {
      if (event.type === 'NetworkStatsUpdated') {
        const s = event.data as NetworkStats;
        market.network = { difficulty: s.difficulty, subsidyBtc: s.subsidySats / SATS_PER_BTC, feesPerBlockBtc: s.feesPerBlockSats / SATS_PER_BTC };
      } else if (event.type === 'DayAheadPublished') enterSchedule(event.data as DayAheadSchedule);
      else if (event.type === 'PriceTicked') {
        const tick = event.data as PriceTick;
        const usd = tick.priceMicroUsd / 1_000_000;
        if (tick.feed === 'btc-usd') market.btcUsd = usd;
        for (const g of GPU_TYPES) if (tick.feed === gpuFeed(g)) market.gpu[g] = usd;
        const node = MARKET_NODES.find((n) => powerFeed(n) === tick.feed);
        if (!node) return;
        // a node's price opens its interval: decide it on what was settled before, then learn the price
        const at = Date.parse(tick.at);
        const intervalStart = Math.floor(at / INTERVAL_MS) * INTERVAL_MS;
        for (const facility of facilities) if (facility.marketNode === node) await decideFacility(facility, intervalStart, event.metadata.correlationId);
        market.power[tick.feed] = usd;
        const fc = forecasters.get(tick.feed);
        if (fc) forecasters.set(tick.feed, learn(fc, node, at, usd));
      }
    },
  };
};
