/**
 * How many leading items of `list` are `before` (the list partitioned by it: all of those first):
 * where the first item that is not sits, or where one that is not would go. The one binary search
 * of the project's sorted lists and series.
 */
export const partitionPoint = <T>(list: ArrayLike<T>, before: (item: T) => boolean): number => {
  let [lo, hi] = [0, list.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(list[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};
