import { describe, expect, it, vi } from 'vitest';
import { busContract } from './bus.contract.ts';
import { createInProcessBus, partitionOf } from './in-process.ts';
import { createMessageBus } from './index.ts';
import { createLogger } from '../logger.ts';
import { eachMessage } from './types.ts';

busContract('in-process', async () => {
  const bus = createInProcessBus({ retryDelayMs: 1 });
  return { bus, dispose: () => bus.close() };
});

describe('in-process bus', () => {
  it('is the bus when KAFKA_BROKERS is not set', async () => {
    const logger = createLogger('silent');
    const bus = createMessageBus({ KAFKA_BROKERS: undefined }, logger);
    expect(bus.kind).toBe('in-process');
    await bus.close();
    const kafka = createMessageBus({ KAFKA_BROKERS: '127.0.0.1:1' }, logger);
    expect(kafka.kind).toBe('kafka');
    await kafka.close();
  });

  it('keeps a key on one partition', () => {
    for (const key of ['a', 'market-btc-usd', 'x'.repeat(300)]) expect(partitionOf(key, 3)).toBe(partitionOf(key, 3));
  });

  it('keeps a bounded log: committed messages beyond the retention go, uncommitted ones stay, a late group starts at the oldest kept', async () => {
    const bus = createInProcessBus({ partitions: 1, retainPerPartition: 10, maxBatchSize: 50 });
    const values = Array.from({ length: 500 }, (_, i) => ({ key: 'k', value: String(i) }));
    const seen: string[] = [];
    const sub = await bus.consume({ topic: 't', groupId: 'g', handle: eachMessage(async (m) => void seen.push(m.value!)) });
    await bus.publish('t', values);
    await bus.drained('t', 'g');
    await sub.stop();
    expect(seen).toEqual(values.map((v) => v.value)); // nothing a group had to read was dropped
    const kept = bus.messages('t');
    expect(kept.length).toBeLessThanOrEqual(20);
    expect(kept.at(-1)).toMatchObject({ value: '499', offset: '499' }); // offsets stay absolute
    // nobody reads now: publishing more keeps it all until the group commits it
    await bus.publish('t', values.slice(0, 100));
    expect(bus.messages('t').length).toBeGreaterThanOrEqual(100);
    const late: string[] = [];
    const other = await bus.consume({ topic: 't', groupId: 'late', handle: eachMessage(async (m) => void late.push(m.offset)) });
    await bus.drained('t', 'late');
    expect(late[0]).toBe(kept[0]!.offset);
    expect(late.at(-1)).toBe('599');
    await other.stop();
    await bus.close();
  });

  it('delivers a batch again when its commit is lost (a crash between handling and committing)', async () => {
    let lose = 2;
    const bus = createInProcessBus({ partitions: 1, loseCommit: () => lose-- > 0 });
    const seen: string[] = [];
    await bus.publish('t', [{ key: 'k', value: 'a' }, { key: 'k', value: 'b' }]);
    const sub = await bus.consume({ topic: 't', groupId: 'g', handle: eachMessage(async (m) => void seen.push(m.value!)) });
    await bus.drained('t', 'g');
    await sub.stop();
    await bus.close();
    expect(seen).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
  });

  it('shares partitions among the members of a group and hands them over on stop', async () => {
    const bus = createInProcessBus({ partitions: 4, maxBatchSize: 2 });
    const byMember: Record<string, string[]> = { one: [], two: [] };
    const a = await bus.consume({ topic: 't', groupId: 'g', handle: eachMessage(async (m) => void byMember.one!.push(m.value!)) });
    const b = await bus.consume({ topic: 't', groupId: 'g', handle: eachMessage(async (m) => void byMember.two!.push(m.value!)) });
    await bus.publish('t', Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })));
    await bus.drained('t', 'g');
    expect(byMember.one!.length).toBeGreaterThan(0);
    expect(byMember.two!.length).toBeGreaterThan(0);
    await a.stop();
    await bus.publish('t', Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: `w${i}` })));
    await bus.drained('t', 'g');
    expect(byMember.two!.filter((v) => v.startsWith('w')).length).toBe(40);
    expect(new Set([...byMember.one!, ...byMember.two!]).size).toBe(80);
    await b.stop();
    await bus.close();
  });

  it('a stopped consumer leaves the rest of its batch uncommitted', async () => {
    const bus = createInProcessBus({ partitions: 1 });
    await bus.publish('t', Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: `v${i}` })));
    const seen: string[] = [];
    let stopping: Promise<void> | undefined;
    let sub: { stop(): Promise<void> } | undefined;
    sub = await bus.consume({
      topic: 't',
      groupId: 'g',
      handle: eachMessage(async (m) => {
        seen.push(m.value!);
        if (m.value === 'v1') stopping = sub!.stop();
      }),
    });
    await vi.waitFor(() => expect(stopping).toBeDefined());
    await stopping;
    expect(seen).toEqual(['v0', 'v1']);
    expect(await bus.lag('t', 'g')).toBe(3);
    await bus.close();
  });
});
