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

describe('a full table of callers', () => {
  it('never drops a running window to make room: a flood of new callers cannot reset a key\'s count', () => {
    let t = 0;
    const limiter = createRateLimiter(2, () => t, 10);
    limiter.take('key:victim');
    limiter.take('key:victim');
    expect(() => limiter.take('key:victim')).toThrow(RateLimitedError);
    // throwaway tokens from many addresses fill the table, and overflow
    for (let i = 0; i < 30; i++) {
      try {
        limiter.take(`key:throwaway-${i}`);
      } catch (e) {
        expect(e).toBeInstanceOf(RateLimitedError);
      }
    }
    expect(() => limiter.take('key:victim')).toThrow(RateLimitedError);
    // the flood's newcomers shared one window at an address's rate
    expect(() => limiter.take('key:someone-new')).toThrow(RateLimitedError);
    // windows that ended make room again
    t += 60_000;
    expect(() => limiter.take('key:victim')).not.toThrow();
    expect(() => limiter.take('key:someone-new')).not.toThrow();
  });
});
