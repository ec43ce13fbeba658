import { eventIdFor } from '../../infra/ids.ts';
import type { EventToAppend } from '../../infra/event-store/types.ts';

let counter = 0;

/** Test events with deterministic ids derived from a command id. */
export const testEvents = (count: number, commandId = `cmd-${++counter}-${Date.now()}`, stream = 's'): EventToAppend[] =>
  Array.from({ length: count }, (_, i) => ({
    id: eventIdFor(commandId, stream, i),
    type: 'TestHappened',
    data: { n: i, commandId },
    metadata: {
      commandId,
      correlationId: commandId,
      causationId: commandId,
      actor: 'test',
      schemaVersion: 1,
      occurredAt: '2024-01-01T00:00:00.000Z',
    },
  }));
