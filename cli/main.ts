/**
 * The `hcp` command line:
 *   hcp start [--role …]               start everything (embedded by default), or some roles of it
 *   hcp projections rebuild|list|drop  read models rebuilt beside the live ones, or as of a moment
 *   hcp export <table>                 a read-model table as CSV or JSON Lines
 *   hcp simulate --day                 a simulated day of the whole platform, and its summary
 *   hcp backtest                       the economic controller against baselines on a market trace
 *   hcp scenario <family> --out DIR    a seeded stress market in the format of the market data
 *   hcp audit replay|verify|digest     an auditor's replay, tamper and derived-fact checks
 */
import { systemClock } from '../infra/clock.ts';
import { ConfigError, loadConfig, type Config } from '../infra/config.ts';
import { randomIds } from '../infra/ids.ts';
import { createLogger } from '../infra/logger.ts';
import { buildServer } from '../read-api/server.ts';
import { buildWorkerServer } from '../read-api/worker-server.ts';
import { migrateProjections } from '../projections/runner.ts';
import { VersionError } from '../projections/versions.ts';
import { exportCommand, PROJECTIONS_USAGE, projectionsCommand, ProjectionsUsageError } from './projections.ts';
import { resolveAdminKey } from './admin-key.ts';
import { backtestCommand } from './backtest.ts';
import { scenarioCommand } from './scenario.ts';
import { AUDIT_USAGE, auditCommand, AuditUsageError } from './audit.ts';
import { simulateCommand, SIMULATE_USAGE } from './simulate.ts';
import { prepareMarketFeed, startMarketFeed } from './market-feed.ts';
import { sharedPlatformClock } from './platform-clock.ts';
import { lead } from '../infra/postgres/leader.ts';
import { startDemoLoad } from './demo-load.ts';
import { createMessageBus } from '../infra/bus/index.ts';
import { startTelemetryFeed } from '../simulators/telemetry/feed.ts';
import { ensureDemo } from './demo.ts';
import { registerScenario } from '../commands/fleet.ts';
import { SEED_SCENARIO } from '../domain/fleet/inventory.ts';
import { openDatabase, openEventStore, parseRoles, PROJECTIONS, ROLES, startCore, type Role } from './platform.ts';
import { DataFolderInUseError } from './data-lock.ts';
import { iso } from '../domain/time.ts';

const USAGE = `usage:
  hcp start [--role all|api,projections,processes,ingestion]
                                       start the platform (all roles by default, or HCP_ROLE); several
                                       processes share one PostgreSQL server, one leading each background role
  ${PROJECTIONS_USAGE(PROJECTIONS.map((p) => p.name)).replace('usage:\n  ', '')}
  hcp backtest [--year 2023] [--facility north-dakota|texas-north|texas-south] [--json] [...]
                                       the economic controller vs baselines and the hindsight optimum (simulators/backtest/README.md);
                                       --data DIR backtests any folder in the market-data format, over its whole span
  hcp scenario <family> --out DIR [--seed 1] [--from 2023-01-01] [--days 365]
                                       a seeded stress market (alternating, random-walk, spiky-summer, btc-crash,
                                       halving, flat-cheap, da-biased, da-missing) written in that format
  ${AUDIT_USAGE.replace('usage:\n  ', '')}
  ${SIMULATE_USAGE.replace('usage: ', '')}
                                       one simulated day of the whole platform (markets, controller, switching,
                                       scheduling, lifecycle, billing) as fast as it runs, and its summary
  hcp help`;

/** `hcp start [--role …]`: the roles from the flag, else HCP_ROLE; a usage error names what is wrong. */
const startRoles = (config: Config, argv: readonly string[]) => {
  const at = argv.indexOf('--role');
  const inline = argv.find((a) => a.startsWith('--role='));
  const unknown = argv.filter((a, i) => a !== '--role' && !a.startsWith('--role=') && argv[i - 1] !== '--role');
  if (unknown.length > 0) throw new Error(`unknown argument ${unknown[0]!.slice(0, 40)} (hcp start [--role all|api,projections,processes,ingestion])`);
  const text = inline ? inline.slice('--role='.length) : at >= 0 ? argv[at + 1] ?? '' : config.HCP_ROLE;
  const roles = parseRoles(text);
  if (roles.size < ROLES.length && !config.DATABASE_URL)
    throw new Error('roles other than all share the platform through a PostgreSQL server: set DATABASE_URL (embedded PGlite serves one process)');
  return roles;
};

const start = async (config: Config, argv: readonly string[]) => {
  let roles: ReadonlySet<Role>;
  try {
    roles = startRoles(config, argv);
  } catch (error) {
    process.stderr.write(`hcp start: ${(error as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const logger = createLogger(config.LOG_LEVEL);
  const db = await openDatabase(config);
  const store = await openEventStore(config, db, logger);
  // one clock for every process: market time, at market speed (a two-hour workload runs two seconds at 3600×)
  const platformClock = config.HCP_MARKET === 'off' ? undefined : await sharedPlatformClock({ db, store, config, logger });
  const clock = platformClock ?? systemClock;
  // one process consumes at a time (the ingestion leader); when it dies, Kafka gives its partitions
  // to the next only after the dead member's session expires (a heartbeat every sixth of it)
  const sessionTimeoutMs = config.HCP_KAFKA_SESSION_TIMEOUT_MS;
  const bus = createMessageBus(config, logger, { kafka: { sessionTimeoutMs, heartbeatIntervalMs: Math.max(250, Math.floor(sessionTimeoutMs / 6)) } });
  const core = await startCore({ db, store, logger, clock, ids: randomIds, roles, bus });
  const demoOn = config.HCP_DEMO ?? !config.DATABASE_URL;
  const demo = demoOn && roles.has('api') ? await ensureDemo(core.deps, config.HCP_DATA_DIR) : [];
  await registerScenario(core.deps, { commandId: 'scenario:seed', correlationId: 'start', actor: 'system:start' }, SEED_SCENARIO);

  // the market replay, the GPU telemetry and the demo's customers: one process feeds them in
  let marketDescription = 'fed by another process (role ingestion)';
  if (roles.has('ingestion')) prepareMarketFeed(config);
  const ingestion = roles.has('ingestion')
    ? lead({
        db,
        name: 'ingestion',
        logger,
        start: async () => {
          const market = await startMarketFeed(config, { bus, store, logger, clock, startMs: platformClock?.startMs ?? clock.now().getTime(), resumed: platformClock?.resumed ?? false });
          marketDescription = market.description;
          const telemetry = config.HCP_MARKET === 'off' ? undefined : startTelemetryFeed({ bus, db, clock, seed: config.HCP_MARKET_SEED, logger });
          const load = demoOn && config.HCP_DEMO_LOAD > 0 ? await startDemoLoad(core.deps, { perDay: config.HCP_DEMO_LOAD, logger }) : undefined;
          return {
            async stop() {
              await load?.stop();
              await telemetry?.stop();
              await market.stop();
            },
          };
        },
      })
    : undefined;
  await ingestion?.settled;

  let app: Awaited<ReturnType<typeof buildServer>>;
  let address: string;
  let admin: Awaited<ReturnType<typeof resolveAdminKey>> | undefined;
  if (roles.has('api')) {
    admin = await resolveAdminKey(config.HCP_ADMIN_KEY, config.HCP_DATA_DIR, randomIds);
    app = await buildServer({ ...core, readModels: db.foreground?.() ?? db, logger, adminKey: admin.key, rateLimitPerMinute: config.HCP_RATE_LIMIT_PER_MINUTE, trustedProxies: config.HCP_TRUSTED_PROXIES });
    address = await app.listen({ host: config.HCP_HOST, port: config.HCP_PORT });
  } else {
    const adminKey = (await resolveAdminKey(config.HCP_ADMIN_KEY, config.HCP_DATA_DIR, randomIds)).key;
    app = buildWorkerServer({ readModels: db, adminKey, health: () => ({ roles: [...roles], leading: { ...core.leading(), ingestion: ingestion?.leading() ?? false } }) });
    address = await app.listen({ host: config.HCP_HOST, port: config.HCP_PORT });
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await app.close();
    await ingestion?.stop();
    await bus.close(); // ends a publish still waiting out a broker outage
    await core.stop();
    platformClock?.stop();
    await store.close();
    await db.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  // the banner goes to stdout for the person who started it, never to the logs
  const leading = core.leading();
  const background = [
    roles.has('projections') ? `projections ${leading.projections ? 'led here' : 'standing by'}` : undefined,
    roles.has('processes') ? `process managers ${leading.processes ? 'led here' : 'standing by'}` : undefined,
    ingestion ? `ingestion ${ingestion.leading() ? 'led here' : 'standing by'}` : undefined,
  ].filter(Boolean);
  const lines = [
    '',
    `HCP is running (roles: ${[...roles].join(', ')}; event store: ${store.kind}${config.DATABASE_URL ? '' : ' on embedded PGlite'}, read models: ${db.kind})`,
    ...(roles.has('api')
      ? [
          `  GraphQL   ${address}/graphql   (graphql-ws subscriptions on the same path)`,
          `  dashboard ${address}/dashboard (sign in with a key below: staff see operations, customers their workloads)`,
          `  GraphiQL  ${address}/graphiql  (paste a key in its API key field; served without internet)`,
          `  REST      POST ${address}/api/v1/workloads, GET ${address}/health`,
        ]
      : []),
    ...(background.length > 0 ? [`  work      ${background.join('; ')} (one process leads each; another takes over if it stops)`] : []),
    ...(roles.has('api') ? [] : [`  health    ${address}/health`]),
    `  market    ${ingestion?.leading() ? marketDescription : 'fed by the process that leads ingestion'} (bus: ${config.KAFKA_BROKERS ? `Kafka at ${config.KAFKA_BROKERS}` : 'in-process'})`,
    ...(demoOn && config.HCP_DEMO_LOAD > 0 && ingestion?.leading() ? [`  demand    ${config.HCP_DEMO_LOAD} simulated workloads a simulated day from the demo's load customers (HCP_DEMO_LOAD)`] : []),
    ...(admin ? [`  admin key ${config.HCP_ADMIN_KEY ? 'from HCP_ADMIN_KEY' : `${admin.key}   (kept in ${admin.source})`}`] : []),
    ...demo.map((d) => `  demo customer ${d.customerId} (${d.name}) key: ${d.key}`),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
};

/** `hcp projections …` and `hcp export`: arguments checked before any database is opened. */
const readModels = async (config: Config, command: 'projections' | 'export', sub: string | undefined, argv: readonly string[]) => {
  let run;
  try {
    run = command === 'export' ? exportCommand([sub ?? '', ...argv].filter(Boolean), PROJECTIONS) : projectionsCommand(sub, argv, PROJECTIONS);
  } catch (error) {
    if (!(error instanceof ProjectionsUsageError || error instanceof VersionError)) throw error;
    process.stderr.write(`hcp ${command}: ${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  const db = await openDatabase(config);
  const store = await openEventStore(config, db);
  try {
    await migrateProjections(db, PROJECTIONS);
    await run({ db, store, projections: PROJECTIONS, out: (text) => new Promise<void>((resolve) => (process.stdout.write(text) ? resolve() : process.stdout.once('drain', resolve))) });
  } catch (error) {
    if (!(error instanceof VersionError)) throw error;
    process.stderr.write(`hcp ${command}: ${error.message}\n`);
    process.exitCode = 1;
  } finally {
    await store.close();
    await db.close();
  }
};

const audit = async (config: Config, sub: string | undefined, argv: readonly string[]) => {
  let run;
  try {
    run = await auditCommand(sub, argv, iso(Date.now()));
  } catch (error) {
    if (!(error instanceof AuditUsageError)) throw error;
    process.stderr.write(`hcp audit: ${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  const db = await openDatabase(config);
  const store = await openEventStore(config, db);
  try {
    await run(store);
  } finally {
    await store.close();
    await db.close();
  }
};

const main = async (args: string[]) => {
  const [command, sub] = args;
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`hcp: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  try {
    if (command === 'start') return await start(config, args.slice(1));
    if (command === 'projections' || command === 'export') return await readModels(config, command, sub, args.slice(2));
    if (command === 'audit') return await audit(config, sub, args.slice(2));
  } catch (error) {
    if (error instanceof DataFolderInUseError) {
      process.stderr.write(`hcp: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  if (command === 'backtest' || command === 'scenario') {
    try {
      return (command === 'backtest' ? backtestCommand : scenarioCommand)(args.slice(1));
    } catch (error) {
      // bad flags or a folder that is not market data: the message names it, no stack trace
      process.stderr.write(`hcp ${command}: ${(error as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
  }
  if (command === 'simulate') return await simulateCommand(args.slice(1));
  process.stdout.write(`${USAGE}\n`);
  if (command !== 'help' && command !== undefined) process.exitCode = 2;
};

// `hcp export … | head`: a reader that stops early is not an error
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

await main(process.argv.slice(2));
