/**
 * Optimal on/off schedule of one block (an ASIC block: mining or sleeping; an interruptible
 * GPU tier: serving or paused) over a sequence of intervals, by exact dynamic programming.
 *
 * Each interval t gives the block's reward in mode 0 (idle) and mode 1 (active); changing
 * mode at the start of interval t costs `switchCost(t)`; after a change the block must stay
 * at least `minDwell` intervals in its new mode (minDwell = 1: no constraint beyond the
 * interval). State = (mode, age) with age = intervals spent in the mode so far, capped at
 * minDwell, so the DP has 2 × minDwell states per interval and is exact.
 *
 * The same code serves two masters: the hindsight optimum of the backtest (rewards are the
 * realized ones over the whole trace) and the controller's look-ahead (rewards come from a
 * price forecast over a few hours). Rewards may be integers (micro-USD, as the backtest uses
 * them: sums of integers below 2^53 are exact in floating point, so the optimum is exact) or
 * floats.
 */

export type Mode = 0 | 1;

export type BlockProblem = {
  /** Reward of each interval in mode 0 (idle). */
  idle: ArrayLike<number>;
  /** Reward of each interval in mode 1 (active). */
  active: ArrayLike<number>;
  /** Cost of a change of mode at the start of interval t (a number: the same for every t). */
  switchCost: number | ArrayLike<number>;
  /** Minimum intervals in a mode after a change (≥ 1). */
  minDwell: number;
  /** Mode before the first interval. */
  initialMode: Mode;
  /** Intervals already spent in the initial mode (≥ minDwell: free to change at once). */
  initialAge: number;
};

export type BlockPlan = {
  value: number;
  modes: Uint8Array;
  switches: number;
};

const costAt = (c: number | ArrayLike<number>, t: number) => (typeof c === 'number' ? c : c[t]!);

const check = (p: BlockProblem) => {
  if (p.idle.length !== p.active.length) throw new RangeError('idle and active rewards differ in length');
  if (!Number.isInteger(p.minDwell) || p.minDwell < 1) throw new RangeError(`minDwell must be an integer ≥ 1, got ${p.minDwell}`);
};

/** state index: mode × D + (age − 1), age in 1..D */
const idx = (mode: number, age: number, D: number) => mode * D + (Math.min(age, D) - 1);

/**
 * Value-to-go tables, backwards. `next[s]` = best value of intervals t..n−1 entering t in
 * state s (the mode and age held during interval t−1).
 */
const backward = (p: BlockProblem, keepChoices: boolean) => {
  check(p);
  const n = p.idle.length;
  const D = p.minDwell;
  const S = 2 * D;
  let next = new Float64Array(S); // value after the last interval: 0
  let cur = new Float64Array(S);
  // choice[t * S + s] = 1 when switching is optimal at t from state s
  const choice = keepChoices ? new Uint8Array(n * S) : undefined;
  for (let t = n - 1; t >= 0; t--) {
    const c = costAt(p.switchCost, t);
    const r0 = p.idle[t]!;
    const r1 = p.active[t]!;
    for (let mode = 0; mode < 2; mode++) {
      const rStay = mode === 0 ? r0 : r1;
      const rSwitch = mode === 0 ? r1 : r0;
      for (let age = 1; age <= D; age++) {
        const s = idx(mode, age, D);
        const stay = rStay + next[idx(mode, age + 1, D)]!;
        let best = stay;
        if (age >= D) {
          const sw = rSwitch - c + next[idx(1 - mode, 1, D)]!;
          if (sw > stay) {
            best = sw;
            if (choice) choice[t * S + s] = 1;
          }
        }
        cur[s] = best;
      }
    }
    [next, cur] = [cur, next];
  }
  return { start: next, choice, S, D };
};

/** The exact optimum: best total reward minus switching costs, and the schedule that attains it. Ties keep the mode. */
export const optimalPlan = (p: BlockProblem): BlockPlan => {
  const { start, choice, S, D } = backward(p, true);
  const n = p.idle.length;
  const modes = new Uint8Array(n);
  let mode = p.initialMode as number;
  let age = Math.max(1, Math.min(p.initialAge, D));
  let switches = 0;
  for (let t = 0; t < n; t++) {
    if (choice![t * S + idx(mode, age, D)] === 1) {
      mode = 1 - mode;
      age = 1;
      switches++;
    } else age = Math.min(age + 1, D);
    modes[t] = mode;
  }
  return { value: start[idx(p.initialMode, Math.max(1, Math.min(p.initialAge, D)), D)]!, modes, switches };
};

/** Total of a given schedule under the same rewards and costs; the dwell rule is checked unless told not to. */
export const scheduleValue = (p: BlockProblem, modes: ArrayLike<number>, opts: { checkDwell?: boolean } = {}): { value: number; switches: number } => {
  check(p);
  let mode = p.initialMode as number;
  let age = Math.max(1, p.initialAge);
  let value = 0;
  let switches = 0;
  for (let t = 0; t < modes.length; t++) {
    const m = modes[t]!;
    if (m !== mode) {
      if (opts.checkDwell !== false && age < p.minDwell) throw new RangeError(`schedule breaks the minimum dwell at interval ${t}`);
      value -= costAt(p.switchCost, t);
      switches++;
      mode = m;
      age = 1;
    } else age++;
    value += m === 1 ? p.active[t]! : p.idle[t]!;
  }
  return { value, switches };
};

/**
 * The first decision of a look-ahead: the value of staying in the current mode now versus
 * changing now (each followed by the best continuation over the horizon). `switchNow` is
 * undefined when the dwell forbids a change.
 */
export const firstStepValues = (p: BlockProblem): { stay: number; switchNow: number | undefined } => {
  const n = p.idle.length;
  if (n === 0) return { stay: 0, switchNow: p.initialAge >= p.minDwell ? -costAt(p.switchCost, 0) : undefined };
  const rest: BlockProblem = { ...p, idle: sliceOf(p.idle, 1), active: sliceOf(p.active, 1), switchCost: typeof p.switchCost === 'number' ? p.switchCost : sliceOf(p.switchCost, 1) };
  const { start: v1, D } = backward(rest, false);
  const mode = p.initialMode;
  const age = Math.max(1, Math.min(p.initialAge, D));
  const r = (m: number) => (m === 0 ? p.idle[0]! : p.active[0]!);
  const stay = r(mode) + v1[idx(mode, age + 1, D)]!;
  const switchNow = age >= D ? r(1 - mode) - costAt(p.switchCost, 0) + v1[idx(1 - mode, 1, D)]! : undefined;
  return { stay, switchNow };
};

const sliceOf = (a: ArrayLike<number>, from: number): number[] => Array.prototype.slice.call(a, from) as number[];
