/**
 * The scheduler's decisions carried out as commands, on the pools' and the workloads' streams,
 * each at the scheduler's time and with an id from the workload and run (or the pool and time),
 * so a repeat after a crash appends nothing. The order keeps the streams consistent: GPUs are
 * taken on the pool first (its decider is the gate of invariant 2), then recorded on the
 * workload; a workload that ends gives its GPUs back after its end is recorded.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { budgetForRest } from '../../domain/billing/metering.ts';
import { rateAt, type PriceListState } from '../../domain/billing/price-list.ts';
import { customerDecider, customerStream } from '../../domain/customer/customer.ts';
import type { FacilitySpec } from '../../domain/fleet/inventory.ts';
import { ASIC_MODELS } from '../../domain/fleet/inventory.ts';
import { gpuIdOf, parseGpuId } from '../../domain/fleet/gpus.ts';
import type { GpuPoolState } from '../../domain/resource/gpu-pool.ts';
import { handoverDecider, handoverStream } from '../../domain/resource/handover.ts';
import { resourceDecider, resourceStream, type ResourceCommand } from '../../domain/resource/resource.ts';
import type { Decision, Placement, Running, Waiting } from '../../domain/scheduling/types.ts';
import { formatUsd } from '../../domain/money.ts';
import { iso, monthOf } from '../../domain/time.ts';
import { workloadDecider, workloadStream, type WorkloadCommand, type WorkloadEvent } from '../../domain/workload/workload.ts';
import { uuidFromName } from '../../infra/ids.ts';
import type { CommandContext, CommandOnStream, Handled } from '../handle.ts';
import { handleCommand, handleTogether, loadState } from '../handle.ts';
import type { CommandDeps } from '../context.ts';
import { CommandRejectedError } from '../errors.ts';
import { requestSwitch, resourcesOf } from '../fleet.ts';
import { requestHandover } from '../handover.ts';
import { loadPriceList } from '../price-list.ts';
import { loadStreamState } from '../stream-state.ts';
import { getIn } from '../../domain/persistent-map.ts';
import { billTargets, runBill } from '../billing/metering.ts';
import { releaseQuotaCommandId } from '../quota.ts';

/** Who the scheduler's commands say asked: its own events, heard back, tell it nothing its round did not already count on. */
export const SCHEDULER_ACTOR = 'process-manager:scheduler';

export type PoolRecord = { state: GpuPoolState; healthy: boolean; switchInFlight: string | undefined; heldAsic: string | undefined };

export type PlaceOutcome = { type: 'placed'; gpuIndexes: number[]; startsAtMs: number; endsAtMs: number | undefined } | { type: 'refused' } | { type: 'ended' };

/** Two draws in [0, 1) for a run's serving metrics, from its workload and run: the same run always measures the same. */
export const drawsFor = (workloadId: string, run: number): [number, number] => {
  const h = createHash('sha256').update(`serving:${workloadId}:${run}`).digest();
  return [h.readUInt32BE(0) / 2 ** 32, h.readUInt32BE(4) / 2 ** 32];
};

export const createExecutor = ({
  deps,
  log,
  facilities,
  pools,
  markPoolDirty,
  powerAsked,
  powerRefused,
}: {
  deps: CommandDeps;
  log: Logger;
  facilities: readonly FacilitySpec[];
  pools: () => ReadonlyMap<string, PoolRecord>;
  markPoolDirty: (poolId: string) => void;
  /** A change of a pool's power was asked for (a handover or a switch, by its id). */
  powerAsked: (poolId: string, changeId: string, direction: 'up' | 'down') => void;
  /** A power change asked for was refused outright: the scheduler pauses before asking again. */
  powerRefused: (poolId: string, direction: 'up' | 'down') => void;
}) => {
  /** A command at the scheduler's time (its events carry that time, not the wall clock's). */
  const at = (commandId: string, atMs: number): CommandContext => ({ commandId, correlationId: commandId, actor: SCHEDULER_ACTOR, now: () => new Date(atMs) });
  const onPool = async (poolId: string, command: ResourceCommand, commandId: string, atMs: number) => {
    markPoolDirty(poolId);
    return handleCommand(deps.store, resourceDecider, resourceStream(poolId), command, at(commandId, atMs));
  };
  const onWorkload = (workloadId: string, command: WorkloadCommand, commandId: string, atMs: number) =>
    handleCommand(deps.store, workloadDecider, workloadStream(workloadId), command, at(commandId, atMs));
  /**
   * A command on a pool's GPUs for one workload's run. When its id answers as a repeat (a restart
   * delivering again), what the pool holds for the workload now says whether that earlier effect
   * still `stands`; one undone since (a recovery released the GPUs, a run was placed anew) is sent
   * again under an id of its own, so a run never records GPUs its pool does not hold, nor keeps
   * GPUs after it ends. Returns the answer, and what the pool holds when the repeat stands.
   */
  const onPoolForRun = async (poolId: string, command: Extract<ResourceCommand, { workloadId: string }>, commandId: string, atMs: number, stands: (held: { run: number; indexes: number[] } | undefined) => boolean) => {
    const done = await onPool(poolId, command, commandId, atMs);
    if (done.type !== 'accepted' || !done.duplicate) return { done, held: undefined };
    const pool = await loadStreamState(deps.store, resourceDecider, resourceStream(poolId));
    const held = pool.state.status === 'registered' ? pool.state.pool && getIn(pool.state.pool.holders, command.workloadId) : undefined;
    return stands(held) ? { done, held } : { done: await onPool(poolId, command, `${commandId}:after-${pool.revision}`, atMs), held: undefined };
  };
  /** GPUs given back: a repeated release stands unless the pool holds the run again. */
  const releaseRun = async (poolId: string, workloadId: string, run: number, keepModel: boolean, atMs: number) =>
    (await onPoolForRun(poolId, { type: 'ReleaseGpus', workloadId, run, keepModel }, `release:${workloadId}:${run}`, atMs, (held) => held?.run !== run)).done;
  /** A serving run leaves its model loaded (warm for the next); training does not. */
  const keepsModel = (r: Pick<Running, 'request'>) => r.request.type !== 'model_training';
  const release = (r: Pick<Running, 'workloadId' | 'run' | 'poolId' | 'request'>, atMs: number) => releaseRun(r.poolId, r.workloadId, r.run, keepsModel(r), atMs);
  /**
   * A run's end recorded on its workload and its GPUs given back, in one round trip when that is
   * plainly possible (handleTogether); otherwise (a repeat, a stale cache) one after the other, as
   * each command's own path tells every case apart. Returns the workload's answer.
   */
  const endRunCommands = (r: Pick<Running, 'workloadId' | 'run' | 'poolId'>, command: WorkloadCommand, commandId: string, keepModel: boolean, atMs: number): CommandOnStream[] => [
    { decider: workloadDecider, streamName: workloadStream(r.workloadId), context: at(commandId, atMs), command },
    { decider: resourceDecider, streamName: resourceStream(r.poolId), context: at(`release:${r.workloadId}:${r.run}`, atMs), command: { type: 'ReleaseGpus', workloadId: r.workloadId, run: r.run, keepModel } },
  ];
  const endRun = async (r: Pick<Running, 'workloadId' | 'run' | 'poolId'>, command: WorkloadCommand, commandId: string, keepModel: boolean, atMs: number) => {
    const together = await handleTogether(deps.store, endRunCommands(r, command, commandId, keepModel, atMs));
    if (together) {
      markPoolDirty(r.poolId);
      return together[0]! as Handled<WorkloadEvent>;
    }
    const done = await onWorkload(r.workloadId, command, commandId, atMs);
    if (done.type === 'accepted') await releaseRun(r.poolId, r.workloadId, r.run, keepModel, atMs);
    return done;
  };

  /**
   * A run's end, its GPUs given back, its bill (line, credits, use) and the release of what is left
   * of the workload's reservation, in one append, when that is plainly possible (handleTogether):
   * the usual completion, one round trip instead of metering's second. Whether it was done;
   * otherwise nothing is appended, and the end goes the usual way, metering billing it after.
   */
  const completeBilled = async (r: Running, command: WorkloadCommand & { type: 'CompleteRun' }, commandId: string, atMs: number) => {
    const workload = await loadState(deps.store, workloadDecider, workloadStream(r.workloadId), { cached: true });
    if (workload.status !== 'running' || workload.current?.run !== r.run || workload.current.runEndsAtMs === undefined) return false;
    // the run's end as the decider will set it, hence the bill's month and time
    const endedMs = Math.max(atMs, workload.current.runEndsAtMs);
    const month = monthOf(endedMs);
    /** The bill of the usage the completion decided (none, and so nothing together, if its end is not the one foreseen); made once for its two commands. */
    let bill: ReturnType<typeof runBill> | undefined;
    const billOf = (decided: readonly { type: string; data: unknown }[]) => {
      if (bill) return bill;
      const usage = decided.find((e): e is WorkloadEvent & { type: 'WorkloadCompleted' } => e.type === 'WorkloadCompleted')?.data.usage;
      return (bill = usage && Date.parse(usage.endedAt) === endedMs ? runBill(workload.customerId, r.workloadId, usage, month, commandId) : undefined);
    };
    const { line, use } = billTargets(workload.customerId, r.workloadId, r.run, endedMs, month, commandId);
    const together = await handleTogether(deps.store, [
      ...endRunCommands(r, { ...command, billed: true }, commandId, keepsModel(r), atMs),
      { ...line, follows: (decided) => billOf(decided)?.recordLine.command },
      { ...use, follows: (decided) => billOf(decided)?.consume.command },
      {
        decider: customerDecider,
        streamName: use.streamName,
        context: at(releaseQuotaCommandId(r.workloadId), endedMs),
        command: { type: 'ReleaseQuota', workloadId: r.workloadId, reason: 'completed' },
        optional: true,
      },
    ]);
    if (!together) return false;
    markPoolDirty(r.poolId);
    return true;
  };

  /**
   * The rate of the run (the price list's at its start) and, when it is above what the workload
   * reserved, the reservation extended first: the run never costs more than is held for it.
   */
  let priceList: Promise<PriceListState> | undefined;
  const rateOf = async (w: Waiting, atMs: number) => rateAt(await (priceList ??= loadPriceList(deps)), w.request.gpuType, w.priority, atMs);
  /** The rate of a first run at the rate it reserved at: it fits its reservation, nothing to look up. */
  const reservedRate = async (w: Waiting, run: number, atMs: number) => {
    const rated = await rateOf(w, atMs);
    return rated && run === 1 && rated.rate === w.reservedRate ? rated : undefined;
  };
  const rateRun = async (w: Waiting, run: number, atMs: number): Promise<{ rate: number; version: number } | { failed: string }> => {
    const rated = await rateOf(w, atMs);
    if (!rated) return { failed: 'no price list is in force' };
    if (run === 1 && rated.rate === w.reservedRate) return rated;
    const [workload, customer] = await Promise.all([
      loadState(deps.store, workloadDecider, workloadStream(w.workloadId)),
      loadState(deps.store, customerDecider, customerStream(w.customerId)),
    ]);
    if (workload.status === 'none' || customer.status !== 'registered') return { failed: 'workload or customer not found' };
    const held = getIn(customer.reservations, w.workloadId)?.budgetMicroUsd ?? 0;
    const need = budgetForRest(rated.rate, workload.billedSeconds * w.request.gpuCount, w.remainingSeconds * w.request.gpuCount);
    if (need > held) {
      const extended = await handleCommand(
        deps.store,
        customerDecider,
        customerStream(w.customerId),
        { type: 'ExtendReservation', workloadId: w.workloadId, gpuSeconds: 0, budgetMicroUsd: need - held, reason: `run ${run} is rated $${formatUsd(rated.rate)}/GPU-hour (price list v${rated.version})` },
        at(`extend:${w.workloadId}:${run}`, atMs),
      );
      if (extended.type === 'rejected')
        return { failed: `its run ${run} is rated $${formatUsd(rated.rate)} per GPU-hour (price list v${rated.version}) and needs $${formatUsd(need - held)} more than it reserved: ${extended.rejection.message}` };
    }
    return rated;
  };

  const fail = async (workloadId: string, reason: string, atMs: number) => {
    const failed = await onWorkload(workloadId, { type: 'FailWorkload', at: atMs, reason }, `fail:${workloadId}`, atMs);
    if (failed.type === 'rejected') log.warn({ workloadId, reason: failed.rejection.message }, 'workload not failed');
    return failed.type === 'accepted';
  };

  /** An ASIC block of the facility a handover may take power from: mining, free, the least efficient first (it earns least per MWh). */
  const asicToShed = async (facilityId: string) => {
    const facility = facilities.find((f) => f.facilityId === facilityId);
    if (!facility) return undefined;
    const blocks = resourcesOf(facility)
      .filter((r) => r.kind === 'asic_group')
      .sort((a, b) => ASIC_MODELS[b.model as keyof typeof ASIC_MODELS].powerW / ASIC_MODELS[b.model as keyof typeof ASIC_MODELS].hashrateThs - ASIC_MODELS[a.model as keyof typeof ASIC_MODELS].powerW / ASIC_MODELS[a.model as keyof typeof ASIC_MODELS].hashrateThs || (a.resourceId < b.resourceId ? -1 : 1));
    for (const b of blocks) {
      const s = await loadState(deps.store, resourceDecider, resourceStream(b.resourceId));
      if (s.status === 'registered' && s.healthy && !s.inFlight && !s.heldByHandover && (s.mode === 'mining' || s.mode === 'underclocked')) return b.resourceId;
    }
    return undefined;
  };

  /** The ASIC block whose power went to this pool in a handover, and that handover. */
  const asicHeldFor = async (facilityId: string, poolId: string) => {
    const facility = facilities.find((f) => f.facilityId === facilityId);
    for (const b of facility ? resourcesOf(facility).filter((r) => r.kind === 'asic_group') : []) {
      const s = await loadState(deps.store, resourceDecider, resourceStream(b.resourceId));
      if (s.status !== 'registered' || !s.heldByHandover || s.inFlight) continue;
      const h = await loadState(deps.store, handoverDecider, handoverStream(s.heldByHandover));
      if (h.status !== 'none' && h.request.gpuResourceId === poolId) return b.resourceId;
    }
    return undefined;
  };

  const caller = (commandId: string) => ({ commandId, correlationId: commandId, actor: SCHEDULER_ACTOR });

  /** A placement's commands: the GPUs taken on the pool (invariant 2's gate), then the run recorded on the workload with the GPUs it got. */
  const placementCommands = (w: Waiting, d: Placement, rated: { rate: number; version: number }, atMs: number) => {
    const take: ResourceCommand & { type: 'AllocateGpus' } = { type: 'AllocateGpus', workloadId: w.workloadId, run: d.run, gpuIds: d.gpuIds, mode: d.mode, model: d.model };
    const [takeId, recordId] = [`place:${w.workloadId}:${d.run}`, `allocate:${w.workloadId}:${d.run}`];
    const recordOn = (gpuIds: string[]): WorkloadCommand => ({
      type: 'AllocateRun',
      run: d.run,
      at: atMs,
      startupMs: d.startupMs,
      facilityId: d.facilityId,
      resourceId: d.poolId,
      gpuIds,
      score: d.score,
      reason: d.reason,
      warm: d.warm,
      rateMicroUsdPerGpuHour: rated.rate,
      priceListVersion: rated.version,
    });
    const together: CommandOnStream[] = [
      { decider: resourceDecider, streamName: resourceStream(d.poolId), context: at(takeId, atMs), command: take },
      { decider: workloadDecider, streamName: workloadStream(w.workloadId), context: at(recordId, atMs), command: recordOn(d.gpuIds) },
    ];
    return { take, takeId, recordId, recordOn, together };
  };
  /** A placement as recorded on the workload (a repeat answers with what was recorded then). */
  const placedAs = (recorded: Handled<WorkloadEvent> & { type: 'accepted' }, d: Placement, gpuIds: string[], atMs: number): PlaceOutcome => {
    const allocated = recorded.events.find((e) => e.type === 'ResourcesAllocated');
    const started = recorded.events.find((e) => e.type === 'WorkloadStarted');
    const gpuType = pools().get(d.poolId)!.state.gpuType;
    return {
      type: 'placed',
      gpuIndexes: (allocated?.type === 'ResourcesAllocated' ? allocated.data.gpuIds : gpuIds).map((id) => parseGpuId(id, gpuType)!.index),
      startsAtMs: allocated?.type === 'ResourcesAllocated' ? Date.parse(allocated.data.startsAt) : atMs + d.startupMs,
      endsAtMs: started?.type === 'WorkloadStarted' ? Date.parse(started.data.runEndsAt) : undefined,
    };
  };

  return {
    /** A new price list version was recorded: the next run reads it. */
    priceListChanged: () => void (priceList = undefined),
    gpuId: (poolId: string, index: number) => gpuIdOf(poolId, pools().get(poolId)!.state.gpuType, index),

    async place(w: Waiting, d: Placement, atMs: number): Promise<PlaceOutcome> {
      const rated = await rateRun(w, d.run, atMs);
      if ('failed' in rated) return (await fail(w.workloadId, rated.failed, atMs)) ? { type: 'ended' } : { type: 'refused' };
      const c = placementCommands(w, d, rated, atMs);
      // the GPUs taken on the pool and recorded on the workload in one round trip when that is plainly possible
      const together = await handleTogether(deps.store, c.together);
      if (together) {
        markPoolDirty(d.poolId);
        return placedAs(together[1] as Handled<WorkloadEvent> & { type: 'accepted' }, d, d.gpuIds, atMs);
      }
      // a repeated placement stands while the pool holds this run: what it holds is the placement,
      // whatever this round chose
      const { done: taken, held } = await onPoolForRun(d.poolId, c.take, c.takeId, atMs, (h) => h?.run === d.run);
      const gpuIds = held ? held.indexes.map((i) => gpuIdOf(d.poolId, pools().get(d.poolId)!.state.gpuType, i)) : d.gpuIds;
      if (taken.type === 'rejected') {
        log.debug({ workloadId: w.workloadId, reason: taken.rejection.message }, 'GPUs refused: the view was stale');
        return { type: 'refused' };
      }
      const recorded = await onWorkload(w.workloadId, c.recordOn(gpuIds), c.recordId, atMs);
      if (recorded.type === 'rejected') {
        // cancelled (or moved) meanwhile: the GPUs go back
        await release({ workloadId: w.workloadId, run: d.run, poolId: d.poolId, request: w.request }, atMs);
        const s = await loadState(deps.store, workloadDecider, workloadStream(w.workloadId));
        return s.status !== 'none' && s.status !== 'queued' && s.status !== 'preempted' ? { type: 'ended' } : { type: 'refused' };
      }
      return placedAs(recorded, d, gpuIds, atMs);
    },

    /**
     * A round's placements in one round trip, all or none, when each is plainly possible: a first
     * run at the rate it reserved at, new to its streams. Undefined otherwise (nothing appended):
     * each is then placed on its own. A backlog's round places dozens, and a round trip each was
     * most of what a placement cost.
     */
    async placeTogether(items: ReadonlyArray<{ w: Waiting; d: Placement }>, atMs: number): Promise<PlaceOutcome[] | undefined> {
      const commands = [];
      for (const { w, d } of items) {
        const rated = await reservedRate(w, d.run, atMs);
        if (!rated) return undefined;
        commands.push(...placementCommands(w, d, rated, atMs).together);
      }
      const together = await handleTogether(deps.store, commands);
      if (!together) return undefined;
      for (const { d } of items) markPoolDirty(d.poolId);
      return items.map(({ d }, i) => placedAs(together[2 * i + 1] as Handled<WorkloadEvent> & { type: 'accepted' }, d, d.gpuIds, atMs));
    },

    async start(r: Running, atMs: number): Promise<number | undefined> {
      const started = await onWorkload(r.workloadId, { type: 'StartRun', run: r.run, at: atMs }, `start:${r.workloadId}:${r.run}`, atMs);
      if (started.type === 'rejected') return undefined;
      const e = started.events.find((x) => x.type === 'WorkloadStarted');
      if (e?.type === 'WorkloadStarted') return Date.parse(e.data.runEndsAt);
      const s = await loadState(deps.store, workloadDecider, workloadStream(r.workloadId));
      return s.status === 'running' ? s.current?.runEndsAtMs : undefined;
    },

    async complete(r: Running, atMs: number) {
      const pool = pools().get(r.poolId);
      const degraded = r.gpuIndexes.some((i) => pool?.state.gpus[i]?.health === 'degraded');
      const command = { type: 'CompleteRun' as const, run: r.run, at: atMs, draws: drawsFor(r.workloadId, r.run), degraded };
      const commandId = `complete:${r.workloadId}:${r.run}`;
      if (await completeBilled(r, command, commandId, atMs)) return;
      const done = await endRun(r, command, commandId, keepsModel(r), atMs);
      // refused (ended otherwise meanwhile): the GPUs go back all the same
      if (done.type === 'rejected') await release(r, atMs);
    },

    async preempt(r: Running, d: Extract<Decision, { type: 'preempt' }>, atMs: number) {
      const done = await endRun(r, { type: 'PreemptRun', run: r.run, at: atMs, cause: d.cause, reason: d.reason }, `preempt:${r.workloadId}:${r.run}`, keepsModel(r), atMs);
      if (done.type === 'rejected') log.warn({ workloadId: r.workloadId, reason: done.rejection.message }, 'not preempted');
      return done.type === 'accepted';
    },

    async interrupt(r: Running, cause: 'gpu_failed' | 'out_of_service', reason: string, atMs: number) {
      const done = await endRun(r, { type: 'InterruptRun', run: r.run, at: atMs, cause, reason }, `interrupt:${r.workloadId}:${r.run}`, false, atMs);
      return done.type === 'accepted';
    },

    releaseGpus: (r: Running, atMs: number) => release(r, atMs),
    releaseStale: (poolId: string, workloadId: string, run: number, atMs: number) => releaseRun(poolId, workloadId, run, false, atMs),

    async warm(d: Extract<Decision, { type: 'warm' }>, atMs: number, readyAtMs: number) {
      const done = await onPool(d.poolId, { type: 'WarmGpus', gpuIds: d.gpuIds, model: d.model, readyAt: iso(readyAtMs) }, `warm:${d.poolId}:${atMs}:${d.model}:${d.gpuIds[0]}`, atMs);
      if (done.type === 'rejected') log.debug({ poolId: d.poolId, reason: done.rejection.message }, 'warming refused');
      return done.type === 'accepted' && done.events.length > 0;
    },

    finishWarming: (poolId: string, gpuIds: string[], model: string, atMs: number) =>
      onPool(poolId, { type: 'FinishWarming', gpuIds, model }, `warmed:${poolId}:${atMs}:${model}:${gpuIds[0]}`, atMs),

    cool: (d: Extract<Decision, { type: 'cool' }>, atMs: number) => onPool(d.poolId, { type: 'CoolGpus', gpuIds: d.gpuIds }, `cool:${d.poolId}:${atMs}:${d.gpuIds[0]}`, atMs),

    sizeWarm: (d: Extract<Decision, { type: 'size-warm' }>, atMs: number) =>
      onPool(d.poolId, { type: 'SizeWarmStandby', targets: d.targets, reason: d.reason, basis: d.basis }, `size-warm:${d.poolId}:${atMs}`, atMs),

    fail,

    /** Power for a pool: a handover from mining (or a plain switch when no block mines), and back. */
    async power(d: Extract<Decision, { type: 'power' }>, atMs: number) {
      const key = `power-${d.direction}:${d.poolId}:${atMs}`;
      try {
        if (d.direction === 'up') {
          const asic = await asicToShed(d.facilityId);
          if (asic) {
            const { handoverId } = await requestHandover(deps, caller(key), { facilityId: d.facilityId, direction: 'to_ai', asicResourceId: asic, gpuResourceId: d.poolId, reason: d.reason.slice(0, 200), handoverId: `ho-${uuidFromName(key).slice(0, 18)}` });
            powerAsked(d.poolId, handoverId, 'up');
            return;
          }
          const { switchId } = await requestSwitch(deps, caller(key), { resourceId: d.poolId, to: 'serving', reason: d.reason.slice(0, 200), switchId: `sw-${uuidFromName(key).slice(0, 18)}` });
          powerAsked(d.poolId, switchId, 'up');
          return;
        }
        const asic = await asicHeldFor(d.facilityId, d.poolId);
        if (asic) {
          const { handoverId } = await requestHandover(deps, caller(key), { facilityId: d.facilityId, direction: 'to_mining', asicResourceId: asic, gpuResourceId: d.poolId, reason: d.reason.slice(0, 200), handoverId: `ho-${uuidFromName(key).slice(0, 18)}` });
          powerAsked(d.poolId, handoverId, 'down');
          return;
        }
        const { switchId } = await requestSwitch(deps, caller(key), { resourceId: d.poolId, to: 'warm_standby', reason: d.reason.slice(0, 200), switchId: `sw-${uuidFromName(key).slice(0, 18)}` });
        powerAsked(d.poolId, switchId, 'down');
      } catch (error) {
        if (!(error instanceof CommandRejectedError)) throw error;
        log.info({ poolId: d.poolId, direction: d.direction, reason: error.message }, 'power change not requested');
        powerRefused(d.poolId, d.direction);
      } finally {
        markPoolDirty(d.poolId);
      }
    },
  };
};
