/**
 * A position in the global order of all events. Shaped like EventStoreDB's
 * `{commit, prepare}`; the PostgreSQL store maps it to (transaction id, sequence)
 * and the memory store to (sequence, sequence). Ordered lexicographically.
 */
export type GlobalPosition = { readonly commit: bigint; readonly prepare: bigint };

export const START: GlobalPosition = { commit: -1n, prepare: -1n };

export const comparePositions = (a: GlobalPosition, b: GlobalPosition): number =>
  a.commit !== b.commit ? (a.commit < b.commit ? -1 : 1) : a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1;

/** Checkpoint codec: a position as a stable, human-readable string `commit/prepare`. */
export const encodePosition = (p: GlobalPosition): string => `${p.commit}/${p.prepare}`;

export const decodePosition = (s: string): GlobalPosition => {
  const m = /^(-?\d+)\/(-?\d+)$/.exec(s);
  if (!m) throw new Error(`not a position: ${JSON.stringify(s)}`);
  return { commit: BigInt(m[1]!), prepare: BigInt(m[2]!) };
};

export const resolveAfter = (after: GlobalPosition | 'start' | undefined): GlobalPosition =>
  after === undefined || after === 'start' ? START : after;
