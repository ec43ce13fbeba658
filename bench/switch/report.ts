/** Text tables of the switch bench. */
import type { Dist } from './dist.ts';
import type { IngestionResult } from './ingestion.ts';
import type { LatencyResult } from './latency.ts';
import { formatLoad } from './load.ts';

const LABEL_WIDTH = 58;
const COLS = ['n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'];
const WIDTHS = [7, 9, 9, 9, 9];

const ms = (x: number) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(2)) : '-');

export const distHeader = (title: string) => title.padEnd(LABEL_WIDTH) + COLS.map((c, i) => c.padStart(WIDTHS[i]!)).join('');

export const distRow = (label: string, d: Dist) =>
  label.padEnd(LABEL_WIDTH) + [String(d.n), ms(d.p50Ms), ms(d.p90Ms), ms(d.p99Ms), ms(d.maxMs)].map((c, i) => c.padStart(WIDTHS[i]!)).join('');

export const formatLatency = (r: LatencyResult, blocks: number) => {
  const s = r.stages;
  const lines = [
    '',
    `decision latency on ${r.backend}:`,
    `  ${r.rounds} rounds (ticks) × ${blocks} blocks = ${r.switches} switch round trips in ${r.measuredSeconds.toFixed(1)} s` +
      (r.stoppedByTimeLimit ? ` (stopped by the time limit: ${(r.switches / r.measuredSeconds).toFixed(1)} switches/s; --seconds raises it)` : '') +
      (r.timedOut ? ' (a round TIMED OUT: see above)' : '') +
      (r.partialRounds ? `; ${r.partialRounds} round(s) did not flip every block` : '') +
      (r.failedSwitches ? `; ${r.failedSwitches} switch(es) failed` : ''),
    distHeader('  wall clock, one round at a time'),
    distRow('  tick published → switch received by the subscriber', r.total),
    distRow('  tick published → last switch of the round received', r.round),
    distRow('    1 bus + ingestion: publish → PriceTicked appended', s.tickToEvent),
    distRow('    2 controller: PriceTicked → RecommendationIssued', s.eventToRecommendation),
    distRow('    3 controller: RecommendationIssued → ModeSwitchRequested', s.recommendationToRequested),
    distRow('    4 executor: ModeSwitchRequested → ModeSwitched', s.requestedToCompleted),
    distRow('        of which in the simulated devices (wall)', s.deviceWall),
    distRow('        of which the executor (reads, phase appends)', s.executorOverhead),
    distRow('    5 projection + feed + API + WebSocket → subscriber', s.completedToSubscriber),
    distRow('        of which until the fleet projection applies it', s.completedToApplied) + `   (${s.completedToAppliedOver90} ≥ 90 ms)`,
    distRow('        of which its transaction (→ commit, change feed)', s.appliedToFeed),
    distRow('        of which the API (feed → resolver → WebSocket)', s.feedToSubscriber),
    distHeader('  recorded in ModeSwitched (simulated device time)'),
    distRow('  controlPathMs (control phases, without the ramp)', r.recorded.controlPath),
    distRow('  physicalMs (the ASIC ramp)', r.recorded.physical),
    `  read model (switchLatency query): ${r.readModel.completed} completed switches in all (warm-up included), control path p50 ${r.readModel.controlPath.p50Ms} ms / p99 ${r.readModel.controlPath.p99Ms} ms, ramp p50 ${r.readModel.physicalRamp.p50Ms} ms / p99 ${r.readModel.physicalRamp.p99Ms} ms`,
    `  while measuring: ${formatLoad(r.load)}`,
    `  growth with history (p50 ms)          resource stream   tick → subscriber   3 request   4 executor`,
    ...r.drift.map(
      (d) =>
        `    rounds ${d.rounds.padEnd(28)}${`${d.resourceStreamEvents} events`.padStart(14)}${ms(d.totalP50Ms).padStart(20)}${ms(d.controllerRequestP50Ms).padStart(12)}${ms(d.executorP50Ms).padStart(13)}`,
    ),
    `  SQL per round: ${r.perRound.transactions} transactions;` + ' statements (calls, rows read, empty results, summed ms):',
    ...r.perRound.statements
      .slice(0, 8)
      .map((s) => `    ${s.statement.padEnd(50)}${String(s.calls).padStart(8)}${String(s.rows).padStart(9)}${String(s.emptyResults).padStart(8)}${ms(s.ms).padStart(9)}`),
    `    (${r.perRound.statements.slice(8).reduce((n, s) => n + s.calls, 0).toFixed(1)} calls of ${Math.max(0, r.perRound.statements.length - 8)} other statements)`,
  ];
  return lines.join('\n');
};

const IW = [14, 12, 11, 13, 13];

export const ingestionHeader = () =>
  [
    ''.padEnd(LABEL_WIDTH - 20) + 'median of runs'.padStart(IW.reduce((a, b) => a + b, 0)),
    'bus / backend'.padEnd(LABEL_WIDTH - 20) + ['ticks/s', 'seconds', 'publish s', 'first ev ms', 'runs ticks/s'].map((c, i) => c.padStart(IW[i]!)).join(''),
  ].join('\n');

export const ingestionRow = (r: IngestionResult) =>
  `${r.bus} → ${r.backend.replace(/ \(schema .*\)$/, '')}`.padEnd(LABEL_WIDTH - 20) +
  [
    Math.round(r.median.ticksPerSecond).toLocaleString('en-US'),
    r.median.seconds.toFixed(2),
    r.median.publishSeconds.toFixed(2),
    r.median.firstAppendMs.toFixed(1),
  ]
    .map((c, i) => c.padStart(IW[i]!))
    .join('') +
  '   ' +
  r.runs.map((x) => Math.round(x.ticksPerSecond).toLocaleString('en-US')).join(' / ');

export const ingestionDetail = (r: IngestionResult) =>
  `  ${r.bus} → ${r.backend.replace(/ \(.*\)$/, '')}, median run: ${formatLoad(r.medianRun.load)}; SQL per tick: ` +
  r.medianRun.sqlPerTick
    .slice(0, 3)
    .map((s) => `${s.statement} ×${s.calls} (${s.ms.toFixed(2)} ms)`)
    .join(', ');
