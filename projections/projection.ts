/** A read model built from events: its tables, and how one event changes them. */
import type { Sql } from '../infra/postgres/database.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';

/** What changed, told to live subscribers after the change commits. */
export type Change =
  | { topic: 'workload'; workloadId: string; customerId: string }
  | { topic: 'customer'; customerId: string }
  | { topic: 'switch'; switchId: string; resourceId: string; facilityId: string }
  | { topic: 'handover'; handoverId: string; facilityId: string }
  | { topic: 'price'; feed: string }
  | { topic: 'recommendation'; facilityId: string }
  /** A pool's GPUs changed (allocation, health, warmth). */
  | { topic: 'gpus'; resourceId: string }
  /** A customer's billing period changed (a line, a credit, the invoice). */
  | { topic: 'billing'; customerId: string; month: string }
  | { topic: 'price-list' }
  /** A key was revoked: open connections authenticated with it are closed. */
  | { topic: 'api-key-revoked'; keyId: string };

export const definitionVersion = (p: Pick<Projection, 'version'>) => p.version ?? 1;

export type Projection = {
  name: string;
  /** The event types it applies: others pass it by without a transaction (the runner moves its checkpoint now and then). */
  eventTypes: ReadonlySet<string>;
  /** Idempotent DDL for its tables. */
  schema: string;
  /** Its tables, emptied by a rebuild. */
  tables: readonly string[];
  /**
   * Applies a batch's events of its types, in order, inside the batch's transaction; returns what
   * changed. Most apply them one by one (`oneByOne`); those that see many events per row change
   * the batch's rows in memory and write them back once (projections/rows.ts).
   */
  apply(tx: Sql, events: readonly RecordedEvent[]): Promise<Change[]>;
  /**
   * The definition's version (1 when absent): raise it when `apply` or the tables change. A
   * platform that finds the read model built by another version builds the new one beside it and
   * swaps it in when caught up (projections/definitions.ts), instead of serving a mix of the two.
   */
  version?: number;
};

/** A projection's batch apply from how it applies one event. */
export const oneByOne =
  (applyOne: (tx: Sql, event: RecordedEvent) => Promise<Change[]>): Projection['apply'] =>
  async (tx, events) => {
    const changes: Change[] = [];
    for (const event of events) changes.push(...(await applyOne(tx, event)));
    return changes;
  };

/** Applies the events of `events` that are of the projection's types (none: no work at all). */
export const applyOwn = async (tx: Sql, projection: Projection, events: readonly RecordedEvent[]): Promise<Change[]> => {
  const own = events.filter((e) => projection.eventTypes.has(e.type));
  return own.length === 0 ? [] : projection.apply(tx, own);
};
