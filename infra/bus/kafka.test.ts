/** The Kafka adapter against a real broker: only when KAFKA_BROKERS is set (CI starts one with ops/kafka/start.sh). */
import { describe } from 'vitest';
import { createLogger } from '../logger.ts';
import { busContract } from './bus.contract.ts';
import { createKafkaBus, parseBrokers } from './kafka.ts';

const brokers = process.env.KAFKA_BROKERS;

describe.runIf(brokers)('kafka bus', () => {
  busContract(
    'kafka',
    async () => {
      const bus = createKafkaBus({
        brokers: parseBrokers(brokers!),
        logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
        clientId: 'hcp-bus-contract',
        handlerRetryDelayMs: 50,
      });
      return { bus, dispose: () => bus.close() };
    },
    { timeoutMs: 30_000 },
  );
});
