/**
 * The market feed of a running platform: a market source (the real history
 * replayed by default, or the seeded synthetic market) publishes ticks to the bus
 * (Kafka with KAFKA_BROKERS, else in-process) as market time advances at
 * HCP_MARKET_SPEED, and ingestion turns each tick into one event.
 */
import { startMarketIngestion } from '../commands/ingestion/market-ingestion.ts';
import { tickMessage } from '../commands/ingestion/market-ingestion.ts';
import type { Clock } from '../infra/clock.ts';
import type { Config } from '../infra/config.ts';
import type { EventStore } from '../infra/event-store/types.ts';
import { createMessageBus, TOPICS } from '../infra/bus/index.ts';
import type { Logger } from '../infra/logger.ts';
import { createReplaySource } from '../simulators/market/replay.ts';
import { runMarketFeed } from '../simulators/market/source.ts';
import { createSyntheticSource } from '../simulators/market/synthetic.ts';

export const startMarketFeed = async (config: Config, { store, logger, clock }: { store: EventStore; logger: Logger; clock: Clock }) => {
  const bus = createMessageBus(config, logger);
  const ingestion = await startMarketIngestion({ bus, store, logger, clock });
  const startMs = Date.parse(config.HCP_MARKET_START);
  const abort = new AbortController();
  const source =
    config.HCP_MARKET === 'synthetic'
      ? createSyntheticSource({ seed: config.HCP_MARKET_SEED, startMs })
      : config.HCP_MARKET === 'replay'
        ? createReplaySource()
        : undefined;
  const feeding = source
    ? runMarketFeed({
        source,
        clock,
        startMs,
        speed: config.HCP_MARKET_SPEED,
        prime: true,
        signal: abort.signal,
        publish: (tick) => bus.publish(TOPICS.marketTicks, [tickMessage(tick)]),
      }).catch((error) => logger.error({ err: error }, 'market feed stopped'))
    : Promise.resolve();
  return {
    description: source ? `${config.HCP_MARKET} from ${config.HCP_MARKET_START} at ${config.HCP_MARKET_SPEED}x` : 'off',
    async stop() {
      abort.abort();
      await feeding;
      await ingestion.stop();
      await bus.close();
    },
  };
};
