/**
 * A small seeded PRNG for the simulators: xoshiro128** (Blackman & Vigna, 2018;
 * reference C at https://prng.di.unimi.it/xoshiro128starstar.c), 128-bit state,
 * period 2^128 − 1, seeded through splitmix32 from a 32-bit hash of the seed.
 *
 * Nothing in the simulators may use Math.random: every random draw comes from an
 * Rng built from an explicit seed, so the same seed gives the same run.
 */

export type Rng = {
  /** Uniform on [0, 1), 32 bits of resolution. */
  next(): number;
  /** Uniform on [min, max). */
  uniform(min?: number, max?: number): number;
  /** Gaussian, Box–Muller (the second value of each pair is kept for the next call). */
  normal(mean?: number, sd?: number): number;
  /** Exponential with the given rate (mean 1/rate). */
  exponential(rate?: number): number;
  /** Integer uniform on [min, max). */
  int(min: number, max: number): number;
  /** True with probability p. */
  bernoulli(p: number): boolean;
  /**
   * An independent stream derived from this Rng's seed and a label (not from its
   * current position), so a sub-process's draws do not depend on how many draws
   * other sub-processes made.
   */
  fork(label: string): Rng;
  /** The seed key this Rng was built from (forks append `/label`). */
  readonly seedKey: string;
};

/** FNV-1a 32-bit hash of a string, then a murmur3 finalizer for avalanche. */
export const hashString = (s: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
};

/** splitmix32: expands one 32-bit seed into a sequence for state initialisation. */
const splitmix32 = (seed: number) => {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
};

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

/** Raw xoshiro128** over an explicit state (four uint32, not all zero); returns uint32 outputs. */
export const xoshiro128ss = (state: readonly [number, number, number, number]) => {
  let [a, b, c, d] = state.map((x) => x >>> 0) as [number, number, number, number];
  if ((a | b | c | d) === 0) throw new Error('xoshiro128** state must not be all zero');
  return (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d >>> 0, 11);
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    return result;
  };
};

const TWO_32 = 4_294_967_296;

/** A seeded Rng. Numbers and strings are both accepted; `42` and `'42'` give the same stream. */
export const createRng = (seed: number | string): Rng => {
  const seedKey = String(seed);
  const sm = splitmix32(hashString(seedKey));
  let state: [number, number, number, number] = [sm(), sm(), sm(), sm()];
  if ((state[0] | state[1] | state[2] | state[3]) === 0) state = [1, 0, 0, 0];
  const u32 = xoshiro128ss(state);
  let spare: number | undefined;

  const next = () => u32() / TWO_32;
  const rng: Rng = {
    seedKey,
    next,
    uniform: (min = 0, max = 1) => min + (max - min) * next(),
    normal(mean = 0, sd = 1) {
      if (spare !== undefined) {
        const z = spare;
        spare = undefined;
        return mean + sd * z;
      }
      // Box–Muller; u1 in (0, 1] so the log is finite
      const u1 = 1 - next();
      const u2 = next();
      const r = Math.sqrt(-2 * Math.log(u1));
      spare = r * Math.sin(2 * Math.PI * u2);
      return mean + sd * r * Math.cos(2 * Math.PI * u2);
    },
    exponential(rate = 1) {
      if (!(rate > 0)) throw new Error(`exponential rate must be > 0, got ${rate}`);
      return -Math.log(1 - next()) / rate;
    },
    int(min, max) {
      if (!(max > min)) throw new Error(`int range empty: [${min}, ${max})`);
      return min + Math.floor(next() * (max - min));
    },
    bernoulli: (p) => next() < p,
    fork: (label) => createRng(`${seedKey}/${label}`),
  };
  return rng;
};
