/**
 * Requests per minute per API key (docs/design.md §4), and per address for every request (at
 * ADDRESS_FACTOR times the key's rate), so requests with made-up keys are limited too: a
 * fixed one-minute window in memory (one process). The key is known by its hash only.
 *
 * At most MAX_CALLERS windows are kept, and a window still running is never dropped to make
 * room (that would hand its caller a fresh count: throwaway tokens from many addresses could
 * reset any key's, the attacker's own included). When the table is full of running windows,
 * callers it does not hold yet share one overflow window at an address's rate: during such a
 * flood, new callers are throttled together, and callers already counted keep their counts.
 */
import { hashApiKey } from '../commands/api-keys.ts';
import { bearerToken } from './auth.ts';
import { HcpError } from '../infra/errors.ts';

export class RateLimitedError extends HcpError {
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
export const MAX_CALLERS = 100_000;
/** The shared window of callers the full table cannot hold. */
export const OVERFLOW_CALLER = 'overflow:';

export type RateLimiter = { take(caller: string): void };

/** `perMinute` 0 turns it off. */
export const createRateLimiter = (perMinute: number, now: () => number = Date.now, maxCallers = MAX_CALLERS): RateLimiter => {
  const windows = new Map<string, { start: number; count: number }>();
  let swept = now();
  const sweep = (t: number) => {
    for (const [k, w] of windows) if (t - w.start >= WINDOW_MS) windows.delete(k);
    swept = t;
  };
  return {
    take(caller) {
      if (perMinute <= 0) return;
      const t = now();
      if (t - swept > WINDOW_MS) sweep(t);
      // a full table: ended windows go first (at most once a second); if none has, the overflow window counts
      if (!windows.has(caller) && windows.size >= maxCallers && t - swept >= 1000) sweep(t);
      if (!windows.has(caller) && windows.size >= maxCallers) caller = OVERFLOW_CALLER;
      const limit = caller.startsWith('ip:') || caller === OVERFLOW_CALLER ? perMinute * ADDRESS_FACTOR : perMinute;
      let w = windows.get(caller);
      if (!w || t - w.start >= WINDOW_MS) {
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
  return token ? [`ip:${address}`, `key:${hashApiKey(token).slice(0, 32)}`] : [`ip:${address}`];
};
