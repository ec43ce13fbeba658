/**
 * Requests per minute per API key (DESIGN.md §4), and per address for every request (at
 * ADDRESS_FACTOR times the key's rate), so requests with made-up keys are limited too: a
 * fixed one-minute window in memory (one process), at most MAX_CALLERS windows kept. The
 * key is known by its hash only.
 */
import { createHash } from 'node:crypto';
import { bearerToken } from './auth.ts';

export class RateLimitedError extends Error {
  readonly type = 'rate_limited' as const;
  constructor(
    readonly perMinute: number,
    readonly retryAfterSeconds: number,
  ) {
    super(`rate limit of ${perMinute} requests per minute for this key reached; retry in ${retryAfterSeconds} s`);
    this.name = 'RateLimitedError';
  }
}

const WINDOW_MS = 60_000;
/** An address may carry several keys (a NAT, a gateway): it gets this many keys' worth. */
export const ADDRESS_FACTOR = 5;
const MAX_CALLERS = 100_000;

export type RateLimiter = { take(caller: string): void };

/** `perMinute` 0 turns it off. */
export const createRateLimiter = (perMinute: number, now: () => number = Date.now): RateLimiter => {
  const windows = new Map<string, { start: number; count: number }>();
  let swept = now();
  return {
    take(caller) {
      if (perMinute <= 0) return;
      const t = now();
      if (t - swept > WINDOW_MS) {
        for (const [k, w] of windows) if (t - w.start >= WINDOW_MS) windows.delete(k);
        swept = t;
      }
      const limit = caller.startsWith('ip:') ? perMinute * ADDRESS_FACTOR : perMinute;
      let w = windows.get(caller);
      if (!w || t - w.start >= WINDOW_MS) {
        if (windows.size >= MAX_CALLERS) windows.delete(windows.keys().next().value!); // the oldest window
        windows.delete(caller);
        windows.set(caller, (w = { start: t, count: 0 }));
      }
      if (++w.count > limit) throw new RateLimitedError(limit, Math.max(1, Math.ceil((w.start + WINDOW_MS - t) / 1000)));
    },
  };
};

/** Whom a request counts against: its address, and its key (by hash) when it carries one. */
export const callersOf = (authorization: unknown, address: string): string[] => {
  const token = bearerToken(authorization);
  return token ? [`ip:${address}`, `key:${createHash('sha256').update(token).digest('hex').slice(0, 32)}`] : [`ip:${address}`];
};
