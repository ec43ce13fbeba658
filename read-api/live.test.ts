import { describe, expect, it } from 'vitest';
import { createChangeFeed } from '../projections/change-feed.ts';
import { liveFeed, sharedLoad, SubscriberTooSlowError } from './live.ts';

const workloadChange = (workloadId: string, customerId = 'a') => ({ topic: 'workload' as const, workloadId, customerId });

describe('live subscription feed', () => {
  it('coalesces changes by key and loads the latest value at delivery', async () => {
    const feed = createChangeFeed();
    let version = 0;
    const live = liveFeed({ feed, select: (c) => (c.topic === 'workload' ? c.workloadId : undefined), load: async (id) => `${id}@${version}` });
    version = 1;
    feed.publish([workloadChange('w1'), workloadChange('w1'), workloadChange('w2'), workloadChange('w1')]);
    version = 2;
    expect(await live.next()).toEqual({ done: false, value: 'w1@2' });
    expect(await live.next()).toEqual({ done: false, value: 'w2@2' });
    await live.return!();
    expect(await live.next()).toEqual({ done: true, value: undefined });
  });

  it('ignores what it does not select, and closes a subscriber that falls too far behind', async () => {
    const feed = createChangeFeed();
    const live = liveFeed({
      feed,
      select: (c) => (c.topic === 'workload' && c.customerId === 'a' ? c.workloadId : undefined),
      load: async (id) => id,
      maxPending: 3,
    });
    feed.publish([workloadChange('x', 'b'), workloadChange('w1')]);
    expect(await live.next()).toEqual({ done: false, value: 'w1' });
    feed.publish(['w2', 'w3', 'w4', 'w5'].map((id) => workloadChange(id)));
    await expect(live.next()).rejects.toBeInstanceOf(SubscriberTooSlowError);
    expect(await live.next()).toEqual({ done: true, value: undefined });
  });
});

describe('shared loads', () => {
  it('loads a key once per change, whoever asks, and again after its next change', async () => {
    const feed = createChangeFeed();
    let loads = 0;
    const load = sharedLoad(feed, (c) => (c.topic === 'workload' ? c.workloadId : undefined), async (id) => `${id}#${++loads}`);
    const subscribers = Array.from({ length: 50 }, () =>
      liveFeed({ feed, select: (c) => (c.topic === 'workload' ? c.workloadId : undefined), load }),
    );
    feed.publish([workloadChange('w1')]);
    expect(new Set(await Promise.all(subscribers.map(async (s) => (await s.next()).value)))).toEqual(new Set(['w1#1']));
    expect(loads).toBe(1);
    feed.publish([workloadChange('w1')]);
    expect(new Set(await Promise.all(subscribers.map(async (s) => (await s.next()).value)))).toEqual(new Set(['w1#2']));
    expect(loads).toBe(2);
    // another key's change leaves this one's value alone
    feed.publish([workloadChange('w2')]);
    expect(await load('w1')).toBe('w1#2');
    for (const s of subscribers) await s.return!();
  });
});
