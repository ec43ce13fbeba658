import { describe, expect, it } from 'vitest';
import { ADDRESS_FACTOR, callersOf, createRateLimiter, RateLimitedError } from './rate-limit.ts';

describe('rate limit per key', () => {
  it('lets perMinute requests through per key and window, then says when to retry', () => {
    let t = 1_000_000;
    const limiter = createRateLimiter(3, () => t);
    for (let i = 0; i < 3; i++) limiter.take('key:a');
    limiter.take('key:b'); // another key has its own window
    t += 20_000;
    const error = (() => {
      try {
        limiter.take('key:a');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterSeconds).toBe(40);
    t += 40_000; // a new window
    expect(() => limiter.take('key:a')).not.toThrow();
  });

  it('0 is no limit; a key is known by its hash, never by itself', () => {
    const off = createRateLimiter(0);
    for (let i = 0; i < 10_000; i++) off.take('x');
    const [ip, k] = callersOf('Bearer hcp_secret_key_value_1234567890', '127.0.0.1');
    expect(ip).toBe('ip:127.0.0.1');
    expect(k).toMatch(/^key:[0-9a-f]{32}$/);
    expect(k).not.toContain('secret');
    expect(callersOf(undefined, '10.0.0.7')).toEqual(['ip:10.0.0.7']);
  });

  it('limits an address too, at several keys\' worth, so made-up keys do not each get a fresh window', () => {
    const limiter = createRateLimiter(2, () => 0);
    let served = 0;
    for (let i = 0; i < 50; i++) {
      try {
        for (const c of callersOf(`Bearer made-up-${i}`, '10.0.0.9')) limiter.take(c);
        served++;
      } catch (e) {
        expect(e).toBeInstanceOf(RateLimitedError);
      }
    }
    expect(served).toBe(2 * ADDRESS_FACTOR);
  });
});
