/**
 * Requests per minute per API key (DESIGN.md §4), or per address for requests without one:
 * a fixed one-minute window in memory (one process). The key is known by its hash only.
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
      let w = windows.get(caller);
      if (!w || t - w.start >= WINDOW_MS) windows.set(caller, (w = { start: t, count: 0 }));
      if (++w.count > perMinute) throw new RateLimitedError(perMinute, Math.max(1, Math.ceil((w.start + WINDOW_MS - t) / 1000)));
    },
  };
};

/** Who a request counts against: its key's hash, or its address. */
export const callerKey = (authorization: unknown, address: string) => {
  const token = bearerToken(authorization);
  return token ? `key:${createHash('sha256').update(token).digest('hex').slice(0, 32)}` : `ip:${address}`;
};
