import os from 'node:os';
import type { Sql } from '../../infra/postgres/database.ts';
import type { Summary } from './stats.ts';

export type Machine = {
  os: string;
  cpuModel: string;
  cpuCount: number;
  memoryGiB: number;
  node: string;
  postgres: string;
  /** Every append waits for its WAL flush when on: the floor under single-writer latency. */
  synchronousCommit: string;
};

/** A workload measured on the store and the ceiling, and on Emmett's store where it runs the same (appends). */
export type ResultRow = { workload: string; store: Summary; ceiling: Summary; storeToCeiling: number; emmett?: Summary; storeToEmmett?: number };

export const describeMachine = async (db: Sql): Promise<Machine> => {
  const [server] = await db.query<{ version: string; synchronous_commit: string }>(
    `SELECT version(), current_setting('synchronous_commit') AS synchronous_commit`,
  );
  const cpus = os.cpus();
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    postgres: server?.version ?? 'unknown',
    synchronousCommit: server?.synchronous_commit ?? 'unknown',
  };
};

export const formatMachine = (m: Machine) =>
  [
    `machine:  ${m.os}, ${m.cpuCount} × ${m.cpuModel}, ${m.memoryGiB} GiB, node ${m.node}`,
    `server:   ${m.postgres} (synchronous_commit=${m.synchronousCommit})`,
  ].join('\n');

const WORKLOAD_WIDTH = 52;
const SIDE_WIDTHS = [10, 9, 8, 8];

const side = (s: Summary) =>
  [
    Math.round(s.eventsPerSecond).toLocaleString('en-US'),
    Math.round(s.opsPerSecond).toLocaleString('en-US'),
    s.p50Ms.toFixed(2),
    s.p99Ms.toFixed(2),
  ]
    .map((cell, i) => cell.padStart(SIDE_WIDTHS[i]!))
    .join('');

const sideHeader = ['events/s', 'ops/s', 'p50 ms', 'p99 ms'].map((h, i) => h.padStart(SIDE_WIDTHS[i]!)).join('');
const sideWidth = SIDE_WIDTHS.reduce((a, b) => a + b, 0);
const GAP = '   ';

const PEER_WIDTHS = [10, 8];
const peer = (s: Summary | undefined) =>
  (s ? [Math.round(s.eventsPerSecond).toLocaleString('en-US'), s.p50Ms.toFixed(2)] : ['–', '–']).map((cell, i) => cell.padStart(PEER_WIDTHS[i]!)).join('');
const peerHeader = ['events/s', 'p50 ms'].map((h, i) => h.padStart(PEER_WIDTHS[i]!)).join('');
const peerWidth = PEER_WIDTHS.reduce((a, b) => a + b, 0);
const ratio = (label: string, value: number | undefined) => (value === undefined ? '–' : value.toFixed(2)).padStart(label.length);

export const formatTableHeader = () =>
  [
    ''.padEnd(WORKLOAD_WIDTH) + 'event store'.padStart(sideWidth) + GAP + 'Emmett'.padStart(peerWidth) + GAP + 'ceiling (plain SQL)'.padStart(sideWidth),
    'workload'.padEnd(WORKLOAD_WIDTH) + sideHeader + GAP + peerHeader + GAP + sideHeader + GAP + 'store/Emmett' + GAP + 'store/ceiling',
  ].join('\n');

export const formatRow = (row: ResultRow) =>
  row.workload.padEnd(WORKLOAD_WIDTH) +
  side(row.store) +
  GAP +
  peer(row.emmett) +
  GAP +
  side(row.ceiling) +
  GAP +
  ratio('store/Emmett', row.storeToEmmett) +
  GAP +
  ratio('store/ceiling', row.storeToCeiling);
