/** The scheduler's timers: what is due when (a model loaded, a run ended), in time order. */
export type Timer =
  | { kind: 'start'; atMs: number; workloadId: string; run: number }
  | { kind: 'complete'; atMs: number; workloadId: string; run: number }
  | { kind: 'warmed'; atMs: number; poolId: string; gpuIds: string[]; model: string }
  /** The pause after a failed power change of a pool runs out: look again. */
  | { kind: 'power-retry'; atMs: number; poolId: string }
  /** A pool may have had no demand for the hour after which it gives its power back: look then. */
  | { kind: 'quiet'; atMs: number; poolId: string };

const keyOf = (t: Timer) =>
  t.kind === 'warmed'
    ? `warmed:${t.poolId}:${t.model}:${t.gpuIds.join(',')}`
    : t.kind === 'power-retry'
      ? `power-retry:${t.poolId}:${t.atMs}`
      : t.kind === 'quiet'
        ? `quiet:${t.poolId}` // one per pool: when it fires, it looks again at the pool's last demand
        : `${t.kind}:${t.workloadId}:${t.run}`;

/** A binary min-heap by time (then key, so equal times fire in a fixed order), one timer per key. */
export const createTimers = () => {
  const heap: Timer[] = [];
  const keys = new Set<string>();
  const before = (a: Timer, b: Timer) => a.atMs < b.atMs || (a.atMs === b.atMs && keyOf(a) < keyOf(b));
  const swap = (i: number, j: number) => ([heap[i], heap[j]] = [heap[j]!, heap[i]!]);
  const up = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(heap[i]!, heap[p]!)) return;
      swap(i, p);
      i = p;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const [l, r] = [2 * i + 1, 2 * i + 2];
      let m = i;
      if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  return {
    add(t: Timer) {
      const k = keyOf(t);
      if (keys.has(k)) return;
      keys.add(k);
      heap.push(t);
      up(heap.length - 1);
    },
    /** The next timer due at or before `atMs`, taken off the heap. */
    takeDue(atMs: number): Timer | undefined {
      if (heap.length === 0 || heap[0]!.atMs > atMs) return undefined;
      const top = heap[0]!;
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        down(0);
      }
      keys.delete(keyOf(top));
      return top;
    },
    nextAtMs: () => heap[0]?.atMs,
    get size() {
      return heap.length;
    },
  };
};
export type Timers = ReturnType<typeof createTimers>;
