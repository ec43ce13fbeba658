/**
 * The machine's pace at the moment of a run: the same small CPU task and the same PostgreSQL round
 * trips, timed before the benchmark. Shared machines drift (the same build's seed day took 33 s one
 * day and 62–68 s another); printed beside the figures, the probe tells a slower machine from a
 * slower build, and runs of different days can be compared in proportion.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { median } from './stats.ts';

export type Pace = {
  /** A fixed task of JSON and hashing, as the platform's own work is (median of 5, ms). */
  cpuMs: number;
  /** One parameterized query's round trip on the server, from a client in this process (median of 5 × 500, µs); undefined without a server. */
  roundTripUs?: number;
};

const cpuTask = () => {
  const started = performance.now();
  const doc = { id: 'w-0001', request: { gpuType: 'H100', gpuCount: 8, model: 'llama-70b', durationSeconds: 7200 }, tags: Array.from({ length: 16 }, (_, i) => `t${i}`) };
  let digest = '';
  for (let i = 0; i < 20_000; i++) digest = createHash('sha256').update(JSON.stringify({ ...JSON.parse(JSON.stringify(doc)), i, digest })).digest('hex');
  return performance.now() - started;
};

export const measurePace = async (serverUrl?: string): Promise<Pace> => {
  cpuTask();
  const cpuMs = median(Array.from({ length: 5 }, cpuTask));
  if (!serverUrl) return { cpuMs };
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const batch = async () => {
      const started = performance.now();
      for (let i = 0; i < 500; i++) await client.query({ text: 'SELECT $1::int AS n', values: [i] });
      return ((performance.now() - started) * 1000) / 500;
    };
    await batch();
    const rounds: number[] = [];
    for (let i = 0; i < 5; i++) rounds.push(await batch());
    return { cpuMs, roundTripUs: median(rounds) };
  } finally {
    await client.end();
  }
};

export const formatPace = (p: Pace) =>
  `pace:     a fixed CPU task ${p.cpuMs.toFixed(0)} ms${p.roundTripUs === undefined ? '' : `, a query's round trip ${p.roundTripUs.toFixed(0)} µs`} (the same probe every run: a slower machine shows here, not only in the figures)`;
