/**
 * npm run bench:switch [-- --json] [--only latency|ingestion] [--backends pglite,postgres]
 *                      [--rounds 2000] [--blocks 1] [--seconds 420] [--ticks 10000] [--runs 3]
 *
 * 1. End-to-end decision latency (switch/latency.ts): a price tick published on the bus →
 *    PriceTicked → RecommendationIssued → ModeSwitchRequested → ModeSwitched on the control
 *    path → a graphql-ws client subscribed to `switchProgress` receives the completed
 *    switch; per stage, and the control-path durations recorded in the events apart.
 * 2. Ingestion throughput (switch/ingestion.ts): ticks/s from publish to appended event,
 *    through the in-process bus and, with KAFKA_BROKERS, through Kafka.
 *
 * Both on embedded PGlite (in memory) and on the PostgreSQL server (DATABASE_URL,
 * TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test) in a fresh schema that is
 * dropped at the end. Progress goes to stderr, results to stdout.
 *
 * Run time: the latency part measures up to --rounds ticks, each flipping --blocks ASIC
 * blocks (default 2,000 ticks × 1 block), but stops after --seconds per backend. On a 2-core
 * machine with nothing else running, a round took ~38 ms on the server and ~53 ms on PGlite
 * (its wasm engine shares the event loop), flat with history since commands read only their
 * stream's new events (commands/stream-state.ts): the default ran 76 s on the server and 107 s
 * on PGlite, the whole bench (with Kafka) about 4 minutes (2026-11-27); other work on the
 * machine slows it several-fold. --blocks 4 makes each tick flip four blocks
 * (more switches per tick, fewer ticks in the same time).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { describeMachine, formatMachine, type Machine } from './support/report.ts';
import { openPglite, openServer, probeServer, serverUrl, type BackendName, type OpenBackend } from './switch/backends.ts';
import { partitionSpread, runIngestionThroughput, type BusKind, type IngestionConfig, type IngestionResult } from './switch/ingestion.ts';
import { runDecisionLatency, type LatencyConfig, type LatencyResult } from './switch/latency.ts';
import { HIGH_USD_PER_MWH, LOW_USD_PER_MWH } from './switch/market.ts';
import { formatLatency, ingestionDetail, ingestionHeader, ingestionRow } from './switch/report.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    only: { type: 'string' },
    backends: { type: 'string', default: 'pglite,postgres' },
    rounds: { type: 'string', default: '2000' },
    blocks: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '420' },
    ticks: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
  },
});

const int = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
};

const LATENCY: LatencyConfig = {
  blocks: int('blocks', args.blocks),
  rounds: int('rounds', args.rounds),
  warmupRounds: 20,
  maxSeconds: int('seconds', args.seconds),
  // 10,000 simulated ms per real ms: a 10 s ASIC ramp waits 1 ms (a timer's floor anyway)
  speed: 10_000,
  roundTimeoutMs: 10_000,
};

const INGESTION: IngestionConfig = {
  ticks: int('ticks', args.ticks),
  runs: int('runs', args.runs),
  warmupTicks: 2_000,
  publishBatch: 500,
  runTimeoutMs: 60_000,
};

const json = args.json;
const only = args.only as 'latency' | 'ingestion' | undefined;
if (only !== undefined && only !== 'latency' && only !== 'ingestion') throw new Error(`--only latency|ingestion, got ${only}`);
const backendNames = args.backends!.split(',').map((b) => b.trim()) as BackendName[];
for (const b of backendNames) if (b !== 'pglite' && b !== 'postgres') throw new Error(`unknown backend ${b} (pglite, postgres)`);
const buses: BusKind[] = ['in-process', ...(process.env.KAFKA_BROKERS ? (['kafka'] as const) : [])];
const url = serverUrl();

const out = (line: string) => {
  if (!json) process.stdout.write(`${line}\n`);
};
const progress = (line: string) => process.stderr.write(`${line}\n`);

const open = new Set<OpenBackend>();
const disposeAll = async () => {
  for (const b of open) await b.dispose().catch((error) => progress(`cleanup of ${b.name}: ${(error as Error).message}`));
  open.clear();
};
process.once('SIGINT', () => void disposeAll().finally(() => process.exit(130)));

const results: {
  machine?: Omit<Machine, 'postgres' | 'synchronousCommit'> & { loadAverage1m: number };
  backends: Record<string, { postgres: string; synchronousCommit: string; skipped?: string }>;
  latency: LatencyResult[];
  ingestion: IngestionResult[];
} = { backends: {}, latency: [], ingestion: [] };

const spread = partitionSpread();
let exitCode = 0;
const started = performance.now();
try {
  out(
    [
      `workload: 1. decision latency — facility of ${LATENCY.blocks} ASIC blocks (${LATENCY.blocks} × 1,000 S21) at HB_WEST; BTC, network and GPU ticks primed;`,
      `             each round publishes the electricity tick opening the next 15-minute interval, alternately`,
      `             $${HIGH_USD_PER_MWH.toLocaleString('en-US')} and $${LOW_USD_PER_MWH}/MWh (strike ≈ $130), so every block flips; one round at a time, the next`,
      `             when the graphql-ws subscriber (switchProgress, admin key) has received every switch as completed;`,
      `             ${LATENCY.warmupRounds} warm-up rounds, then up to ${LATENCY.rounds} rounds or ${LATENCY.maxSeconds} s; in-process bus; simulated devices at`,
      `             ${LATENCY.speed.toLocaleString('en-US')}× speed; platform, client and bench in one node process (stages timed there)`,
      `          2. ingestion — ${INGESTION.ticks.toLocaleString('en-US')} price ticks over 10 feeds, published in batches of ${INGESTION.publishBatch}, first publish → last`,
      `             event appended, ingestion alone (nothing else follows the store); median of ${INGESTION.runs} runs after a`,
      `             ${INGESTION.warmupTicks.toLocaleString('en-US')}-tick warm-up; buses: ${buses.join(', ')}${process.env.KAFKA_BROKERS ? ` (Kafka at ${process.env.KAFKA_BROKERS}, fresh topic per run)` : ' (KAFKA_BROKERS unset: no Kafka)'};`,
      `             feeds per partition (3 partitions, keyed by stream): ${buses.map((b) => `${b} ${spread[b].join('/')}`).join(', ')}`,
    ].join('\n'),
  );

  for (const name of backendNames) {
    let backend: OpenBackend;
    if (name === 'postgres') {
      const problem = await probeServer(url);
      if (problem) {
        results.backends.postgres = { postgres: 'unreachable', synchronousCommit: '-', skipped: problem };
        out(`\nPostgreSQL server at ${url.replace(/\/\/[^@/]*@/, '//…@')}: SKIPPED (${problem})`);
        continue;
      }
      backend = await openServer(url, 'bench_switch');
    } else backend = await openPglite();
    open.add(backend);
    try {
      const machine = await describeMachine(backend.db);
      const { postgres, synchronousCommit, ...host } = machine;
      if (!results.machine) {
        results.machine = { ...host, loadAverage1m: Math.round(os.loadavg()[0]! * 100) / 100 };
        out(formatMachine(machine).split('\n')[0]!);
        out(`load:     1-minute load average ${os.loadavg()[0]!.toFixed(2)} at the start (other work on this machine shares its cores)`);
      }
      results.backends[name] = { postgres, synchronousCommit };
      out(`${name === 'pglite' ? 'embedded:' : 'server:  '} ${postgres} (synchronous_commit=${synchronousCommit})`);

      if (only !== 'ingestion') {
        progress(`decision latency on ${backend.label} …`);
        const r = await runDecisionLatency(backend, LATENCY, progress);
        results.latency.push(r);
        out(formatLatency(r, LATENCY.blocks));
        if (r.timedOut) exitCode = 1;
      }
      if (only !== 'latency') {
        for (const bus of buses) {
          progress(`ingestion through ${bus} on ${backend.label} …`);
          results.ingestion.push(await runIngestionThroughput(backend, bus, INGESTION, progress));
        }
      }
    } finally {
      await backend.dispose();
      open.delete(backend);
    }
  }

  if (results.ingestion.length > 0) {
    out(`\ningestion throughput (publish → appended event):`);
    out(ingestionHeader());
    for (const r of results.ingestion) out(ingestionRow(r));
    for (const r of results.ingestion) out(ingestionDetail(r));
  }
  out(`\ntotal run time ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (json) process.stdout.write(`${JSON.stringify({ config: { latency: LATENCY, ingestion: INGESTION, buses, partitionSpread: spread }, ...results }, null, 2)}\n`);
} catch (error) {
  progress(`bench failed: ${(error as Error).stack ?? error}`);
  exitCode = 1;
} finally {
  await disposeAll();
}
// kafkajs and pg keep timers and sockets around for a while after closing: do not wait for them
process.exit(exitCode);
