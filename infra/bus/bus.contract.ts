/**
 * What every bus adapter keeps (see types.ts): per-key order, at-least-once
 * delivery with commits only after the handler succeeded, resume from the
 * committed offsets, independent groups, lag. Run by in-process.test.ts always
 * and by kafka.test.ts when KAFKA_BROKERS is set.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ConsumedMessage, MessageBatch, MessageBus } from './types.ts';

export type BusUnderTest = {
  bus: MessageBus;
  dispose(): Promise<void>;
};

const waitFor = async (what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  // a condition that throws (a lag query during a broker hiccup) counts as not yet
  while (!(await Promise.resolve().then(condition).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

export const busContract = (label: string, open: () => Promise<BusUnderTest>, { timeoutMs = 10_000 } = {}) => {
  const unique = (name: string) => `contract.${name}.${randomBytes(4).toString('hex')}`;
  const messages = (n: number, keys = 3) =>
    Array.from({ length: n }, (_, i) => ({ key: `k${i % keys}`, value: JSON.stringify({ i, key: `k${i % keys}` }) }));
  const indexOf = (m: ConsumedMessage) => (JSON.parse(m.value!) as { i: number }).i;

  describe(`message bus contract: ${label}`, () => {
    it('delivers every message to a group, in order per key, with headers', async () => {
      const { bus, dispose } = await open();
      try {
        const topic = unique('order');
        await bus.publish(topic, [{ key: 'h', value: 'with-headers', headers: { 'x-a': '1' } }]);
        await bus.publish(topic, messages(30));
        const seen: ConsumedMessage[] = [];
        const sub = await bus.consume({ topic, groupId: unique('g'), handle: async (b) => void seen.push(...b.messages) });
        await sub.ready;
        await waitFor('31 messages', () => seen.length >= 31, timeoutMs);
        await sub.stop();
        expect(seen.find((m) => m.value === 'with-headers')?.headers['x-a']).toBe('1');
        const numbered = seen.filter((m) => m.key !== 'h');
        expect(new Set(numbered.map(indexOf)).size).toBe(30);
        for (const key of ['k0', 'k1', 'k2']) {
          const order = numbered.filter((m) => m.key === key).map(indexOf);
          expect(order).toEqual([...order].sort((a, b) => a - b));
        }
      } finally {
        await dispose();
      }
    });

    it('redelivers what a failing handler did not finish, and not what it marked as progress', async () => {
      const { bus, dispose } = await open();
      try {
        const topic = unique('retry');
        await bus.publish(topic, messages(10, 1));
        const handled: number[] = [];
        let failed = false;
        const handle = async (b: MessageBatch) => {
          for (const m of b.messages) {
            if (indexOf(m) === 5 && !failed) {
              failed = true;
              throw new Error('transient failure');
            }
            handled.push(indexOf(m));
            b.progress(m.offset);
          }
        };
        const sub = await bus.consume({ topic, groupId: unique('g'), handle });
        await sub.ready;
        await waitFor('all 10 handled', () => new Set(handled).size === 10, timeoutMs);
        await sub.stop();
        expect(failed).toBe(true);
        // at-least-once, and nothing before the failure point handled twice
        expect(handled).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      } finally {
        await dispose();
      }
    });

    it('a new member of the group resumes after the committed offsets; another group reads everything', async () => {
      const { bus, dispose } = await open();
      try {
        const topic = unique('resume');
        const groupId = unique('g');
        await bus.publish(topic, messages(12));
        const first: number[] = [];
        const sub1 = await bus.consume({ topic, groupId, handle: async (b) => void first.push(...b.messages.map(indexOf)) });
        await sub1.ready;
        await waitFor('12 messages', () => first.length >= 12, timeoutMs);
        await sub1.stop();
        await waitFor('lag 0', async () => (await bus.lag(topic, groupId)) === 0, timeoutMs);

        await bus.publish(topic, messages(18).slice(12));
        expect(await bus.lag(topic, groupId)).toBe(6);
        const second: number[] = [];
        const sub2 = await bus.consume({ topic, groupId, handle: async (b) => void second.push(...b.messages.map(indexOf)) });
        await sub2.ready;
        await waitFor('6 more messages', () => second.length >= 6, timeoutMs);
        await sub2.stop();
        expect(second.sort((a, b) => a - b)).toEqual([12, 13, 14, 15, 16, 17]);

        const other: number[] = [];
        const sub3 = await bus.consume({ topic, groupId: unique('g'), handle: async (b) => void other.push(...b.messages.map(indexOf)) });
        await sub3.ready;
        await waitFor('18 messages in the other group', () => other.length >= 18, timeoutMs);
        await sub3.stop();
        expect(new Set(other).size).toBe(18);
      } finally {
        await dispose();
      }
    });
  });
};
