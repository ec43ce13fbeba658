import { eventIdFor } from '../../infra/ids.ts';
import type { EventToAppend } from '../../infra/event-store/types.ts';

/**
 * `count` events for `streamName` starting at `firstRevision`: about 300 bytes of JSON data
 * shaped like the platform's own events, and the metadata of tests/support/events.ts.
 * Ids are derived from stream and revision, so the store and the ceiling get the same rows.
 */
export const benchEvents = (streamName: string, firstRevision: bigint, count: number): EventToAppend[] => {
  const commandId = `${streamName}@${firstRevision}`;
  return Array.from({ length: count }, (_, i) => {
    const revision = firstRevision + BigInt(i);
    const aiKw = 400 + Number(revision % 800n) + 0.25;
    return {
      id: eventIdFor(commandId, streamName, i),
      type: 'PowerAllocationChanged',
      data: {
        siteId: 'site-nordics-07',
        rigId: `rig-${streamName.slice(-6)}`,
        allocation: { miningKw: 2000 - aiKw, aiKw, reserveKw: 120 },
        hashPriceUsdPerPhDay: 48.12,
        gpuSpotUsdPerHour: 2.35,
        energyUsdPerMwh: 61.4,
        reason: 'AI demand above mining margin for the next interval',
        effectiveFrom: '2024-01-01T00:15:00.000Z',
      },
      metadata: {
        commandId,
        correlationId: commandId,
        causationId: commandId,
        actor: 'bench',
        schemaVersion: 1,
        occurredAt: '2024-01-01T00:00:00.000Z',
      },
    };
  });
};
