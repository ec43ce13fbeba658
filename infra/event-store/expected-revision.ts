/**
 * Expected stream revision for optimistic concurrency, in EventStoreDB's words:
 * `any` (no check), `no_stream`, `stream_exists`, or the exact revision of the
 * stream's last event.
 */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint;

/** The stream's current revision; `undefined` when the stream has no events. */
export type CurrentRevision = bigint | undefined;

export const matchesExpectedRevision = (
  current: CurrentRevision,
  expected: ExpectedRevision,
): boolean => {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return current === undefined;
  if (expected === 'stream_exists') return current !== undefined;
  return current === expected;
};

export const describeRevision = (r: ExpectedRevision | CurrentRevision): string =>
  r === undefined ? 'no_stream' : typeof r === 'bigint' ? r.toString() : r;

export class WrongExpectedRevisionError extends Error {
  readonly type = 'wrong_expected_revision' as const;
  constructor(
    readonly streamName: string,
    readonly expected: ExpectedRevision,
    readonly actual: CurrentRevision,
  ) {
    super(
      `stream ${streamName}: expected revision ${describeRevision(expected)}, actual ${describeRevision(actual)}`,
    );
    this.name = 'WrongExpectedRevisionError';
  }
}

/** Some but not all of an append's event ids are stored already, or they belong to another stream. */
export class IdempotencyMismatchError extends Error {
  readonly type = 'idempotency_mismatch' as const;
  constructor(readonly streamName: string, readonly eventId: string) {
    super(`stream ${streamName}: event id ${eventId} was already stored with a different append`);
    this.name = 'IdempotencyMismatchError';
  }
}

/**
 * An append to several streams refused whole (appendToStreams): one of them was not at its expected
 * revision, or held an id already. Which, and why, is for an append of that stream alone to say.
 */
export class AppendsRefusedError extends Error {
  readonly type = 'appends_refused' as const;
  constructor(readonly streamNames: readonly string[], readonly reason: string) {
    super(`appends to ${streamNames.join(', ')} refused together: ${reason}`);
    this.name = 'AppendsRefusedError';
  }
}
