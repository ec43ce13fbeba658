/** Configuration from the environment, validated at start: a bad value names its variable. */
import proxyaddr from '@fastify/proxy-addr';
import { z } from 'zod';

const compiles = (proxies: string[]) => {
  try {
    proxyaddr.compile(proxies);
    return true;
  } catch {
    return false;
  }
};

const booleanText = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const configSchema = z.object({
  HCP_HOST: z.string().min(1).default('127.0.0.1'),
  HCP_PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HCP_DATA_DIR: z.string().min(1).default('.hcp/data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// or postgresql:// URL')
    .optional(),
  ESDB_CONNECTION_STRING: z
    .string()
    .regex(/^(esdb|esdb\+discover|kurrentdb|kurrentdb\+discover):\/\/\S+$/, 'an esdb:// connection string')
    .optional(),
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$/, 'a comma-separated list of host:port')
    .optional(),
  /** A prefix for Kafka topics and consumer groups, for platforms sharing one cluster. */
  HCP_BUS_NAMESPACE: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,40}$/, 'letters, digits, - and _ (at most 40)')
    .optional(),
  /**
   * How long Kafka waits for a silent consumer before giving its partitions to another: the most
   * a takeover of ingestion waits for the bus. The broker refuses less than its
   * group.min.session.timeout.ms (6 s unless configured; ops/kafka allows 1 s).
   */
  HCP_KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(1000).max(300_000).default(6000),
  HCP_ADMIN_KEY: z.string().min(24, 'at least 24 characters').max(256).optional(),
  HCP_DEMO: booleanText.optional(),
  /** Where market ticks come from: the real history replayed, the seeded synthetic market, or nothing. */
  HCP_MARKET: z.enum(['replay', 'synthetic', 'off']).default('replay'),
  /** Simulated seconds per real second (3600: an hour of market a second). */
  HCP_MARKET_SPEED: z.coerce.number().positive().max(10_000_000).default(3600),
  /** Market time at start (replay data covers 2023-01-01 to 2024-12-31 for power). */
  HCP_MARKET_START: z.iso.datetime({ offset: true }).default('2023-08-20T00:00:00Z'),
  HCP_MARKET_SEED: z.string().min(1).max(64).default('hcp'),
  /** With the demo on, simulated workloads per simulated day from the demo's load customers; 0 turns it off. */
  HCP_DEMO_LOAD: z.coerce.number().int().min(0).max(1_000_000).default(200),
  /** API requests per minute per key (or per address without one); 0 turns the limit off. */
  HCP_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(1200),
  /** Proxies whose X-Forwarded-For the API believes: addresses, CIDR ranges, `loopback`, `uniquelocal` (comma-separated). */
  HCP_TRUSTED_PROXIES: z
    .string()
    .max(2000)
    .transform((text) => text.split(',').map((a) => a.trim()).filter(Boolean))
    .refine(compiles, 'addresses or CIDR ranges, or loopback, linklocal, uniquelocal, comma-separated')
    .default([]),
  /** What `hcp start` runs: all, or some of api, projections, processes, ingestion (comma-separated). */
  HCP_ROLE: z.string().min(1).max(200).default('all'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  readonly type = 'config_error' as const;
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Empty variables count as unset, as shells and compose files often leave them. */
export const loadConfig = (env: NodeJS.ProcessEnv = process.env): Config => {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(present);
  if (!parsed.success)
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return parsed.data;
};
