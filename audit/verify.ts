/**
 * `hcp audit verify`: one pass over the log in store order that recomputes every stream's hash
 * chain, checks the log against a digest taken earlier, and lets each derived-fact check
 * (derived.ts) recompute what HCP derived from the events, with the domain code alone.
 */
import { walkChains, type ChainBreak, type Walked } from './chains.ts';
import { digestCheck, type Digest, type DigestDifference } from './digest.ts';
import type { DerivedCheck, DerivedDifference } from './derived.ts';
import { encodePosition } from '../infra/event-store/position.ts';
import type { EventStore } from '../infra/event-store/types.ts';
import { logAsStored, replay } from './replay.ts';

/** At most this many findings of each kind are listed (all are counted). */
export const MAX_LISTED = 1000;

export type Findings<T> = { count: number; listed: T[] };

export type VerifyReport = {
  ok: boolean;
  events: number;
  streams: number;
  /** Position of the last event walked (null: an empty log). */
  position: string | null;
  logHash: string;
  chain: Findings<ChainBreak>;
  digest: (Findings<DigestDifference> & { takenAt: string; events: number }) | null;
  derived: { checks: { name: string; checked: number }[] } & Findings<DerivedDifference>;
};

const findings = <T>(): Findings<T> => ({ count: 0, listed: [] });
const note = <T>(f: Findings<T>, items: readonly T[]) => {
  f.count += items.length;
  for (const item of items) if (f.listed.length < MAX_LISTED) f.listed.push(item);
};

export type VerifyOptions = {
  digest?: Digest;
  derived?: readonly DerivedCheck[];
  /** Called every so many events, for a progress line on a long walk. */
  onProgress?: (events: number) => void;
};

export const verifyStore = async (store: EventStore, { digest, derived = [], onProgress }: VerifyOptions = {}): Promise<VerifyReport> => {
  const walk = walkChains();
  const chain = findings<ChainBreak>();
  const against = digest ? digestCheck(digest) : undefined;
  const derivedFindings = findings<DerivedDifference>();
  let last: Walked | undefined;
  // the derived checks read what the events say: parsed; the chains alone need only the stored text
  const log = derived.length > 0 ? replay(store) : logAsStored(store);
  for await (const e of log) {
    note(chain, walk.add(e));
    against?.see(e, walk);
    if (!('dataText' in e)) for (const check of derived) note(derivedFindings, check.see(e));
    last = e;
    if (onProgress && walk.events % 100_000 === 0) onProgress(walk.events);
  }
  for (const check of derived) note(derivedFindings, check.finish());
  const digestFindings = digest && against ? { ...findings<DigestDifference>(), takenAt: digest.takenAt, events: digest.events } : null;
  if (digestFindings && against) note(digestFindings, against.finish(walk));
  return {
    ok: chain.count === 0 && (digestFindings?.count ?? 0) === 0 && derivedFindings.count === 0,
    events: walk.events,
    streams: walk.heads.size,
    position: last ? encodePosition(last.position) : null,
    logHash: walk.logHash,
    chain,
    digest: digestFindings,
    derived: { checks: derived.map((c) => ({ name: c.name, checked: c.checked() })), ...derivedFindings },
  };
};
