/** In-process fan-out of committed read-model changes to live subscribers. */
import type { Change } from './projection.ts';

export type ChangeListener = (change: Change) => void;

export type ChangeFeed = {
  publish(changes: readonly Change[]): void;
  /** Returns the unsubscribe function. */
  subscribe(listener: ChangeListener): () => void;
};

export const createChangeFeed = (): ChangeFeed => {
  const listeners = new Set<ChangeListener>();
  return {
    publish(changes) {
      for (const change of changes) for (const l of listeners) l(change);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
};
