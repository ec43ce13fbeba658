/**
 * GPU telemetry in, health out: samples arrive on the bus (hcp.gpu.telemetry, a pool's batch per
 * message) and are aggregated into tables (each GPU's latest sample and running totals, each
 * pool's hourly figures: not events); a GPU whose samples cross a threshold (domain/fleet/
 * telemetry.ts) has its health changed on its pool's stream (ResourceHealthChanged), which the
 * scheduler acts on. The latest temperatures feed placement (cooler GPUs first).
 *
 * At-least-once delivery is harmless: the health command's id derives from the GPU and the
 * sample's time, and a repeated sample moves no threshold twice.
 */
import type { Logger } from 'pino';
import { parseGpuId, type GpuHealth } from '../../domain/fleet/gpus.ts';
import { telemetryBatchSchema, trackHealth, type HealthTrack, type TelemetryBatch } from '../../domain/fleet/telemetry.ts';
import { resourceDecider, resourceStream } from '../../domain/resource/resource.ts';
import type { GpuType } from '../../domain/workload/request.ts';
import { eachMessage, type MessageBus } from '../../infra/bus/types.ts';
import { GROUPS, TOPICS } from '../../infra/bus/topics.ts';
import type { Database } from '../../infra/postgres/database.ts';
import type { CommandDeps } from '../context.ts';
import { handleCommand } from '../handle.ts';
import { iso } from '../../domain/time.ts';

const SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS gpu_telemetry_latest (
  gpu_id        text PRIMARY KEY,
  resource_id   text NOT NULL,
  at            timestamptz NOT NULL,
  temperature_c double precision NOT NULL,
  power_w       double precision NOT NULL,
  ecc_errors_total bigint NOT NULL,
  xid_errors_total bigint NOT NULL,
  samples       bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS gpu_telemetry_hourly (
  resource_id     text NOT NULL,
  hour            timestamptz NOT NULL,
  samples         bigint NOT NULL,
  sum_temperature double precision NOT NULL,
  max_temperature double precision NOT NULL,
  sum_power_w     double precision NOT NULL,
  ecc_errors      bigint NOT NULL,
  xid_errors      bigint NOT NULL,
  PRIMARY KEY (resource_id, hour)
);
`;

export type GpuHealthMonitor = {
  /** Aggregates a pool's samples and records the health changes they imply. */
  ingest(batch: TelemetryBatch): Promise<number>;
  /** The latest temperature heard of each GPU of a pool, °C, by index: a new object after each batch, never changed after. */
  temperaturesOf(poolId: string): Readonly<Record<number, number>>;
  /** Consumes the bus topic until stopped. */
  consume(bus: MessageBus): Promise<{ stop(): Promise<void> }>;
};

const NO_TEMPERATURES: Readonly<Record<number, number>> = Object.freeze({});

export const createGpuHealthMonitor = async ({ deps, db, logger, gpuTypeOf }: { deps: CommandDeps; db: Database; logger: Logger; gpuTypeOf: (poolId: string) => GpuType | undefined }): Promise<GpuHealthMonitor> => {
  const log = logger.child({ component: 'gpu-health' });
  await db.exec(SCHEMA);
  const tracks = new Map<string, HealthTrack>();
  const temperatures = new Map<string, Readonly<Record<number, number>>>();
  const known = new Set<string>();

  /** A pool's GPUs' health as recorded, the first time its samples come (a restart goes on from there). */
  const learnPool = async (poolId: string) => {
    if (known.has(poolId)) return;
    for (const r of await db.query<{ gpu_id: string; health: GpuHealth }>(`SELECT gpu_id, health FROM rm_gpus WHERE resource_id = $1`, [poolId]))
      if (!tracks.has(r.gpu_id)) tracks.set(r.gpu_id, { health: r.health, better: 0 });
    known.add(poolId);
  };

  const ingest = async (batch: TelemetryBatch) => {
    const gpuType = gpuTypeOf(batch.resourceId);
    if (!gpuType) return 0;
    await learnPool(batch.resourceId);
    const samples = batch.samples.filter((s) => parseGpuId(s.gpuId, gpuType)?.poolId === batch.resourceId);
    if (samples.length === 0) return 0;
    // the aggregates are written while the health changes are worked out (they do not depend on
    // each other); the batch is done when both are
    const latest = db.query(
      `INSERT INTO gpu_telemetry_latest (gpu_id, resource_id, at, temperature_c, power_w, ecc_errors_total, xid_errors_total, samples)
       SELECT g, $2, $3, t, p, e, x, 1 FROM unnest($1::text[], $4::float8[], $5::float8[], $6::bigint[], $7::bigint[]) AS s(g, t, p, e, x)
       ON CONFLICT (gpu_id) DO UPDATE SET at = excluded.at, temperature_c = excluded.temperature_c, power_w = excluded.power_w,
         ecc_errors_total = gpu_telemetry_latest.ecc_errors_total + excluded.ecc_errors_total,
         xid_errors_total = gpu_telemetry_latest.xid_errors_total + excluded.xid_errors_total, samples = gpu_telemetry_latest.samples + 1
       WHERE gpu_telemetry_latest.at < excluded.at`,
      [samples.map((s) => s.gpuId), batch.resourceId, batch.at, samples.map((s) => s.temperatureC), samples.map((s) => s.powerW), samples.map((s) => s.eccErrors), samples.map((s) => s.xidErrors)],
    );
    const hour = iso(Math.floor(Date.parse(batch.at) / 3_600_000) * 3_600_000);
    const hourly = db.query(
      `INSERT INTO gpu_telemetry_hourly (resource_id, hour, samples, sum_temperature, max_temperature, sum_power_w, ecc_errors, xid_errors) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (resource_id, hour) DO UPDATE SET samples = gpu_telemetry_hourly.samples + excluded.samples, sum_temperature = gpu_telemetry_hourly.sum_temperature + excluded.sum_temperature,
         max_temperature = greatest(gpu_telemetry_hourly.max_temperature, excluded.max_temperature), sum_power_w = gpu_telemetry_hourly.sum_power_w + excluded.sum_power_w,
         ecc_errors = gpu_telemetry_hourly.ecc_errors + excluded.ecc_errors, xid_errors = gpu_telemetry_hourly.xid_errors + excluded.xid_errors`,
      [batch.resourceId, hour, samples.length, samples.reduce((a, s) => a + s.temperatureC, 0), Math.max(...samples.map((s) => s.temperatureC)), samples.reduce((a, s) => a + s.powerW, 0),
        samples.reduce((a, s) => a + s.eccErrors, 0), samples.reduce((a, s) => a + s.xidErrors, 0)],
    );
    const written = Promise.all([latest, hourly]);
    written.catch(() => {}); // thrown below, once the health changes are recorded; not unhandled meanwhile
    // a new record per batch: the scheduler keeps the one it read for a round without copying it
    const temps: Record<number, number> = { ...temperatures.get(batch.resourceId) };
    for (const s of samples) temps[parseGpuId(s.gpuId, gpuType)!.index] = s.temperatureC;
    temperatures.set(batch.resourceId, temps);
    let changes = 0;
    const atMs = Date.parse(batch.at);
    for (const s of samples) {
      const { track, change } = trackHealth(tracks.get(s.gpuId) ?? { health: 'healthy', better: 0 }, s);
      tracks.set(s.gpuId, track);
      if (!change) continue;
      changes++;
      const handled = await handleCommand(deps.store, resourceDecider, resourceStream(batch.resourceId), { type: 'SetGpuHealth', gpuId: s.gpuId, health: change.health, reason: change.reason }, {
        commandId: `health:${s.gpuId}:${batch.at}`,
        correlationId: `telemetry:${batch.resourceId}:${batch.at}`,
        actor: 'telemetry:gpu-health',
        now: () => new Date(atMs),
      });
      if (handled.type === 'rejected') log.warn({ gpuId: s.gpuId, reason: handled.rejection.message }, 'health change refused');
    }
    await written;
    return changes;
  };

  return {
    ingest,
    temperaturesOf: (poolId) => temperatures.get(poolId) ?? NO_TEMPERATURES,
    async consume(bus) {
      const subscription = await bus.consume({
        topic: TOPICS.gpuTelemetry,
        groupId: GROUPS.telemetry,
        fromBeginning: false,
        handle: eachMessage(async (message) => {
          let batch: TelemetryBatch;
          try {
            batch = telemetryBatchSchema.parse(JSON.parse(message.value ?? ''));
          } catch (error) {
            log.warn({ offset: message.offset, err: error }, 'not a telemetry batch: skipped');
            return;
          }
          await ingest(batch);
        }),
      });
      return { stop: () => subscription.stop() };
    },
  };
};
