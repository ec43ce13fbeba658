/** Time comes in through this port, so simulations and tests are deterministic. */
export type Clock = { now(): Date };

export const systemClock: Clock = { now: () => new Date() };

/** A clock that moves only when told to. */
export const manualClock = (start = new Date('2024-01-01T00:00:00Z')) => {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    advance(ms: number) {
      t += ms;
    },
  };
};
