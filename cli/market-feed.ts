/**
 * The market feed of a running platform: a market source (the real history
 * replayed by default, or the seeded synthetic market) publishes ticks to the bus
 * (Kafka with KAFKA_BROKERS, else in-process) as market time advances at
 * HCP_MARKET_SPEED, and ingestion turns each tick into one event. A restarted replay resumes
 * market time just after the last tick recorded (the history gives the same ticks for a range
 * whatever was asked before), instead of replaying from HCP_MARKET_START ticks that are
 * already recorded while nothing new flows.
 */
import { startMarketIngestion } from '../commands/ingestion/market-ingestion.ts';
import { tickMessage } from '../commands/ingestion/market-ingestion.ts';
import type { Clock } from '../infra/clock.ts';
import type { Config } from '../infra/config.ts';
import type { EventStore } from '../infra/event-store/types.ts';
import { TOPICS } from '../infra/bus/index.ts';
import type { MessageBus } from '../infra/bus/types.ts';
import type { Logger } from '../infra/logger.ts';
import { createReplaySource } from '../simulators/market/replay.ts';
import { FEED_ORDER, runMarketFeed } from '../simulators/market/source.ts';
import { createSyntheticSource } from '../simulators/market/synthetic.ts';
import { iso } from '../domain/time.ts';

const FEED_STOP_WAIT_MS = 5_000;

/** Market time of the latest tick recorded on any feed's stream, or undefined before the first. */
export const lastRecordedTickMs = async (store: EventStore): Promise<number | undefined> => {
  let latest: number | undefined;
  for (const feed of FEED_ORDER) {
    const [last] = await store.readStream(`market-${feed}`, { direction: 'backwards', maxCount: 1 });
    const at = Date.parse(String((last?.data as { at?: unknown } | undefined)?.at));
    if (Number.isFinite(at)) latest = Math.max(latest ?? at, at);
  }
  return latest;
};

/**
 * Where the platform's time starts: HCP_MARKET_START the first time, just after the last recorded
 * tick when it starts again (the history gives the same ticks for a range whatever was asked
 * before, and the synthetic market is a function of its seed and the range).
 */
export const platformStart = async (config: Config, store: EventStore) => {
  const resumeMs = config.HCP_MARKET === 'off' ? undefined : await lastRecordedTickMs(store);
  const startMs = Math.max(Date.parse(config.HCP_MARKET_START), resumeMs === undefined ? -Infinity : resumeMs + 1);
  return { startMs, resumed: resumeMs !== undefined && startMs === resumeMs + 1 };
};

/**
 * Reads and indexes the market history a replay feed serves, ahead of leading: a standby that takes
 * over ingestion then publishes at once instead of parsing the history first (about a second on a
 * busy process, every tick of that second late).
 */
export const prepareMarketFeed = (config: Pick<Config, 'HCP_MARKET'>) => {
  if (config.HCP_MARKET === 'replay') createReplaySource().inForceAt(0);
};

/** Publishes the market as the platform's (simulated) clock moves on from `startMs`. */
export const startMarketFeed = async (
  config: Config,
  { bus, store, logger, clock, startMs, resumed }: { bus: MessageBus; store: EventStore; logger: Logger; clock: Clock; startMs: number; resumed: boolean },
) => {
  const ingestion = await startMarketIngestion({ bus, store, logger, clock });
  // the platform's clock may have run on without a feed (set up, or a feed that died and was taken
  // over): publishing starts after the last recorded tick and catches up with the clock at once
  const lastTickMs = config.HCP_MARKET === 'off' ? undefined : await lastRecordedTickMs(store);
  const nowMs = clock.now().getTime();
  const fromMs = Math.min(nowMs, lastTickMs === undefined ? Date.parse(config.HCP_MARKET_START) : lastTickMs + 1);
  const abort = new AbortController();
  const source =
    config.HCP_MARKET === 'synthetic'
      ? createSyntheticSource({ seed: config.HCP_MARKET_SEED, startMs: Date.parse(config.HCP_MARKET_START) })
      : config.HCP_MARKET === 'replay'
        ? createReplaySource()
        : undefined;
  const feeding = source
    ? runMarketFeed({
        source,
        // the platform's clock runs at market speed already
        clock,
        startMs: nowMs,
        fromMs,
        speed: 1,
        prime: true,
        signal: abort.signal,
        publish: (tick) => bus.publish(TOPICS.marketTicks, [tickMessage(tick)]),
      }).catch((error) => {
        if (!abort.signal.aborted) logger.error({ err: error }, 'market feed stopped');
      })
    : Promise.resolve();
  return {
    description: source
      ? `${config.HCP_MARKET} from ${iso(startMs)}${resumed ? ' (resumed after the last recorded tick)' : ''} at ${config.HCP_MARKET_SPEED}x`
      : 'off',
    async stop() {
      abort.abort();
      // a publish waiting out a broker outage ends only when the bus closes: wait for the feed a while, not for ever
      await Promise.race([feeding, new Promise((r) => setTimeout(r, FEED_STOP_WAIT_MS).unref())]);
      await ingestion.stop();
    },
  };
};
